"""A process pool that counts how often it is created, to prove that a parallel path was taken."""

from concurrent.futures import ProcessPoolExecutor


class SpyPool(ProcessPoolExecutor):
    created = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        type(self).created += 1
        super().__init__(*args, **kwargs)
