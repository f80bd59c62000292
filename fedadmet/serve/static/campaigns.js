PAGE_LOADERS.campaigns = () => {};
