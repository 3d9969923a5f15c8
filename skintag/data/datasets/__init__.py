"""One module per dataset, each with ``INFO`` (a :class:`~skintag.data._common.DatasetInfo`), ``is_present(data_dir)``
and ``load(data_dir, *, strict=False, require_images=False, ...)`` returning a
:class:`~skintag.data._common.LoadedDataset`. :mod:`skintag.data.registry` lists them."""
