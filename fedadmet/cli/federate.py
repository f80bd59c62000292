"""`fedadmet federate ...`: consortium keys, certificates, simulation and run status."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.table import Column, Table

from fedadmet.cli.common import console, errors, fail, federate_app, option_problem
from fedadmet.exceptions import FedadmetError

if TYPE_CHECKING:
    from fedadmet.workflows.views import RunView


@federate_app.command("keygen")
def keygen(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write the hex key to (mode 600).")],
) -> None:
    """Create the consortium secret key that every partner uses to prepare its data."""
    from fedadmet.federated.keys import generate_key, key_id

    if output.exists():
        raise fail(f"{output} exists; refusing to overwrite a consortium key")
    key = generate_key()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(key + "\n")
    output.chmod(0o600)
    console.print(f"wrote {output}; key id {key_id(bytes.fromhex(key))} (share the key only with partners)")


MIN_PARTNERS = typer.Option(
    min=1,
    help="A round goes on while at least this many partners reply (default: 2). With two, each can work out "
    "the other's update from the new shared trunk, SecAgg+ or not: use 3 or more where partners must not "
    "(with SecAgg+, fewer than the partners).",
)


PATIENCE = typer.Option(
    min=1,
    help="Stop once the consortium's mean validation score has not improved for this many rounds (default 3; "
    "--rounds is then the cap).",
)
RECORD_DP = typer.Option(
    help="Record-level DP-SGD at each partner (Opacus): every training record's gradient clipped and noised in "
    "every local step, ε over all rounds within --target-epsilon at --delta (off by default)."
)
TARGET_EPSILON = typer.Option(help="Record-level DP: the ε each partner may spend over the run.")
DELTA = typer.Option(help="Record-level DP: δ of the ε (below 1 / each partner's training records).")
MAX_GRAD_NORM = typer.Option(help="Record-level DP: each record's gradient is clipped to this L2 norm.")


@federate_app.command("simulate")
def simulate_command(
    partners: Annotated[list[Path], typer.Argument(help="Prepared partner folders (from `fedadmet data prepare`).")],
    rounds: Annotated[int | None, typer.Option(min=1, help="The most federated rounds (default 10).")] = None,
    patience: Annotated[int | None, PATIENCE] = None,
    strategy: Annotated[str | None, typer.Option(help="fedavg (default), fedprox or fedadam.")] = None,
    secagg: Annotated[
        bool | None,
        typer.Option(
            help="SecAgg+ masking of every update (on by default; needs at least 3 partners); --no-secagg also lets "
            "the simulated partners send unmasked updates, which deployed partners refuse unless their node config "
            "allows it."
        ),
    ] = None,
    dp: Annotated[
        bool | None,
        typer.Option(help="Differential privacy: clip each update and add Gaussian noise (off by default)."),
    ] = None,
    noise_multiplier: Annotated[float | None, typer.Option(help="DP noise multiplier σ (default 0.5).")] = None,
    record_dp: Annotated[bool, RECORD_DP] = False,
    target_epsilon: Annotated[float, TARGET_EPSILON] = 8.0,
    delta: Annotated[float, DELTA] = 1e-5,
    max_grad_norm: Annotated[float, MAX_GRAD_NORM] = 1.0,
    min_partners: Annotated[int | None, MIN_PARTNERS] = None,
    run_name: Annotated[
        str | None, typer.Option(help="Name of the run in the registry (default: simulation; resumed: its own).")
    ] = None,
    resume: Annotated[
        int | None, typer.Option(min=1, help="Carry on this registry run from its last checkpoint.")
    ] = None,
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Where each run keeps its checkpoints, in run-<id> (default: HOME/federation).")
    ] = None,
) -> None:
    """Run a federation on this machine with Flower's simulation engine (one SuperNode per partner).

    Every call is a new run unless --resume names one; the first Ctrl-C stops it (it can be resumed)."""
    from fedadmet.config import get_settings
    from fedadmet.federated.config import FederationConfig
    from fedadmet.workflows.federation import RunSettings, run_plan, simulate
    from fedadmet.workflows.views import run_view

    options = {
        "rounds": rounds,
        "strategy": strategy,
        "secagg": secagg,
        "min_partners": min_partners,
        "patience": patience,
    }
    privacy = {"enabled": dp, "noise_multiplier": noise_multiplier}
    given = {k: v for k, v in options.items() if v is not None}
    given["privacy"] = {k: v for k, v in privacy.items() if v is not None}
    if record_dp:
        given["record_dp"] = {"target_epsilon": target_epsilon, "delta": delta, "max_grad_norm": max_grad_norm}
    try:  # a resumed run keeps its own settings where no option says otherwise
        federation = FederationConfig.model_validate(run_plan(given, resume))
    except ValidationError as exc:
        raise fail(option_problem(exc)) from None
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    settings = RunSettings(
        run_name=run_name or ("" if resume else "simulation"),
        n_partners=len(partners),
        federation=federation,
        checkpoint_dir=checkpoint_dir or get_settings().home / "federation",
        run_id=resume,
    )
    try:
        run = run_view(simulate(partners, settings, require_secagg=federation.secagg))
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    _print_run(run)
    if run.status == "interrupted":
        again = ["fedadmet federate simulate", *map(str, partners), f"--resume {run.id}"]
        if checkpoint_dir is not None:
            again.append(f"--checkpoint-dir {checkpoint_dir}")
        console.print(f"run {run.id} stopped: {run.error}; to carry it on: {' '.join(again)}", soft_wrap=True)
        raise typer.Exit(130)
    if run.status != "completed":
        raise fail(f"run {run.id} {run.status}: {run.error}", code=1)


@federate_app.command("status")
def status(
    run_id: Annotated[int | None, typer.Argument(help="Run to show (default: list all runs).")] = None,
) -> None:
    """Federation runs in the registry: rounds, who took part, who was excluded and why, shared metrics."""
    from fedadmet.config import get_settings
    from fedadmet.workflows.store import open_store
    from fedadmet.workflows.views import get_run, list_runs, privacy_text

    store = open_store(get_settings().registry_url)  # the operator's: every partner's metrics
    if run_id is None:
        table = Table(
            "run", Column("name", overflow="fold"), "strategy", "SecAgg+", "DP", "status", "aggregated",
            Column("started", no_wrap=True),
        )  # fmt: skip
        for listed in list_runs(store).items:
            table.add_row(
                str(listed.id), listed.name, listed.strategy, "yes" if listed.secagg else "no",
                privacy_text(listed, brief=True), listed.status, str(sum(1 for r in listed.rounds if r.partners)),
                f"{listed.started:%Y-%m-%d %H:%M}",
            )  # fmt: skip
        console.print(table)
        return
    run = get_run(store, run_id)
    if run is None:
        raise fail(f"no federation run {run_id} in the registry")
    _print_run(run)


@federate_app.command("gain")
def gain(
    partner: Annotated[Path, typer.Argument(help="This partner's prepared folder (it holds its federated models).")],
    run: Annotated[
        str | None,
        typer.Option(
            help="Run to assess, by id or as NAME/ID "
            "(default: the best on validation of the runs this partner took part in without DP)."
        ),
    ] = None,
    gbm_iterations: Annotated[
        int | None,
        typer.Option(min=10, help="CatBoost iterations per endpoint, both models (default: the core model's 1000)."),
    ] = None,
    side_tasks: Annotated[
        bool,
        typer.Option(help="Give the local model's trees the side-task predictions, as the core recipe does."),
    ] = True,
) -> None:
    """What joining gained for this partner: the model it uses after joining (its best local model, the
    core recipe of `fedadmet train` on its own training folds, averaged with its kept federated model)
    against the local model alone, per endpoint on its held-out test fold. Keeps the local model, which
    `fedadmet predict --partner` then uses with the federated one. Runs at the partner; nothing leaves it.

    Writes gain.json, gain.md and gain.png beside the run's model."""
    from fedadmet.config import get_settings
    from fedadmet.federated.gain import format_score, mean_rows, notes
    from fedadmet.workflows.federation import assess_gain, kept_model
    from fedadmet.workflows.training import TrainingRecipe

    settings = get_settings()
    recipe = TrainingRecipe(side_tasks=side_tasks, gbm_iterations=gbm_iterations)
    try:
        model = kept_model(partner, run)
        console.print(f"run {model.run_id} ({model.run_name}) against this partner's best local model")
        if model.caveat:
            errors.print(f"[bold yellow]warning:[/] {model.caveat}", highlight=False)
        result, paths = assess_gain(partner, model, recipe, settings.feature_cache_dir, settings.progress)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    table = Table(
        Column("endpoint", overflow="fold"), "metric", "test compounds", "local best", "federated", "head",
        "after joining", "gain",
    )  # fmt: skip
    for row in result.endpoints:
        table.add_row(
            row.endpoint, row.metric, str(row.test_compounds), format_score(row.local_best),
            format_score(row.federated), row.federated_head, format_score(row.joined),
            format_score(row.gain, signed=True),
        )  # fmt: skip
    for label, metric in mean_rows(result):
        table.add_row(
            label, "", "", format_score(result.mean("local_best", metric)),
            format_score(result.mean("federated", metric)), "", format_score(result.mean("joined", metric)),
            format_score(result.mean("gain", metric), signed=True), style="bold",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"after joining = the local best and the federated model averaged, the federated share "
        f"{1 - result.local_share:g} chosen on validation; the local model is kept in {partner} for predictions",
        highlight=False,
    )
    for note in notes(result):
        console.print(note, highlight=False)
    console.print(f"wrote {', '.join(p.name for p in paths)} in {model.folder}", highlight=False)


def _print_run(run: RunView) -> None:
    from fedadmet.workflows.views import privacy_text

    secagg = "on" if run.secagg else "off"
    summary = f"{run.strategy}, SecAgg+ {secagg}, {privacy_text(run)}"
    console.print(f"run {run.id} '{run.name}': {run.status} ({summary}) {run.error}")
    private = any(row.epsilon is not None for row in run.rounds)
    budget = ["ε so far"] if private else []
    table = Table("round", "partners", "excluded", "bytes sent", *budget, "validation score per partner")
    for row in run.rounds:
        scores = row.metrics.get("evaluate", {})
        table.add_row(
            str(row.round),
            ", ".join(row.partners) or "none: the trunk stayed as it was",
            "; ".join(f"{k}: {v}" for k, v in row.excluded.items()) or "-",
            f"{row.bytes_sent:,}" if row.bytes_sent is not None else "-",
            *([f"{row.epsilon:.2f}" if row.epsilon is not None else "-"] if private else []),
            ", ".join(f"{p} {_score(m.get('valid_score')):.3f}" for p, m in scores.items()),
        )
    console.print(table)


def _score(value: float | None) -> float:
    """A partner's shared score; NaN where it had none (the view shows a NaN as none)."""
    return float("nan") if value is None else value


FORCE = typer.Option("--force", help="Overwrite existing keys or certificates.")


@federate_app.command("certs")
def certs(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for ca.crt, server.pem, server.key.")],
    host: Annotated[list[str] | None, typer.Option(help="Host names/IPs of the SuperLink (repeatable).")] = None,
    force: Annotated[bool, FORCE] = False,
) -> None:
    """TLS certificates for the SuperLink, signed by a new consortium CA (ca.crt goes to every partner)."""
    from fedadmet.federated.deploy import make_certificates

    try:
        folder = make_certificates(output, host or ["localhost", "127.0.0.1"], force=force)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    console.print(f"wrote {folder}/ca.crt, server.pem, server.key (keep ca.key offline)")


@federate_app.command("node-key")
def node_key(
    name: Annotated[str, typer.Argument(help="This partner's node name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the key pair.")] = Path(),
    force: Annotated[bool, FORCE] = False,
) -> None:
    """A SuperNode key pair: register the .pub with the operator, keep the private key at the partner."""
    from fedadmet.federated.deploy import make_node_key

    try:
        private, public = make_node_key(output, name, force=force)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    console.print(f"wrote {private} (private, stays here) and {public} (send to the operator)")


@federate_app.command("gateway")
def gateway(
    certs: Annotated[Path, typer.Option(help="Folder with ca.crt, server.pem, server.key (`federate certs`).")],
    superlink: Annotated[
        str, typer.Option(help="The SuperLink's HTTP API on this machine (flower-superlink --host 127.0.0.1 --port).")
    ] = "127.0.0.1:9095",
    host: Annotated[str, typer.Option(help="Address partners reach.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port partners' SuperNodes connect to.")] = 9092,
) -> None:
    """Let partners' SuperNodes reach the SuperLink's Fleet API, and nobody its Control API (403)."""
    from fedadmet.federated.gateway import serve_gateway

    files = [certs / "server.pem", certs / "server.key", certs / "ca.crt"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise fail(f"missing certificate files: {missing} (make them with `fedadmet federate certs`)")
    console.print(f"Fleet API gateway on {host}:{port} -> {superlink} (control and runtime paths refused)")
    serve_gateway(superlink, host, port, *files)


@federate_app.command("app")
def app_folder(
    output: Annotated[Path, typer.Option("--output", "-o", help="Flower app folder to write.")],
    partners: Annotated[int, typer.Option(min=2, help="Number of partners expected.")],
    key_id: Annotated[
        str,
        typer.Option(
            help="Consortium key id (printed by keygen, in each partner's manifest.json): partners refuse other keys."
        ),
    ],
    rounds: Annotated[int, typer.Option(min=1, help="The most federated rounds.")] = 10,
    patience: Annotated[int, PATIENCE] = 3,
    strategy: Annotated[str, typer.Option(help="fedavg, fedprox or fedadam.")] = "fedavg",
    secagg: Annotated[bool, typer.Option(help="SecAgg+ masking of every update (needs at least 3 partners).")] = True,
    min_partners: Annotated[int, MIN_PARTNERS] = 2,
    run_name: Annotated[str, typer.Option()] = "consortium",
    checkpoint_dir: Annotated[Path, typer.Option(help="Where the coordinator keeps checkpoints.")] = Path(
        "federation-checkpoints"
    ),
    registry_url: Annotated[str, typer.Option(help="Registry database URL (default: SQLite in home).")] = "",
    secagg_timeout: Annotated[
        float | None,
        typer.Option(
            min=1, help="Seconds each SecAgg+ stage waits for replies before going on without silent partners."
        ),
    ] = None,
    record_dp: Annotated[bool, RECORD_DP] = False,
    target_epsilon: Annotated[float, TARGET_EPSILON] = 8.0,
    delta: Annotated[float, DELTA] = 1e-5,
    max_grad_norm: Annotated[float, MAX_GRAD_NORM] = 1.0,
) -> None:
    """The Flower app folder that the operator submits with `flwr run`."""
    from fedadmet.federated.config import FederationConfig
    from fedadmet.federated.deploy import write_app
    from fedadmet.federated.keys import KEY_ID_PATTERN

    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise fail(f"--key-id must be the 16 hex characters keygen printed, got {key_id!r}")
    options: dict[str, object] = {} if secagg_timeout is None else {"secagg_stage_timeout_s": secagg_timeout}
    if record_dp:
        options["record_dp"] = {"target_epsilon": target_epsilon, "delta": delta, "max_grad_norm": max_grad_norm}
    try:
        federation = FederationConfig(
            rounds=rounds,
            strategy=strategy,
            secagg=secagg,
            min_partners=min_partners,
            patience=patience,
            **options,  # type: ignore[arg-type]
        )
        folder = write_app(
            output, run_name, partners, checkpoint_dir, federation, registry_url=registry_url, key_id=key_id
        )
    except ValidationError as exc:
        raise fail(option_problem(exc)) from None
    except (FedadmetError, ValueError) as exc:
        raise fail(str(exc)) from None
    console.print(f"wrote {folder / 'pyproject.toml'}; submit with: flwr run {folder} <superlink-connection>")
