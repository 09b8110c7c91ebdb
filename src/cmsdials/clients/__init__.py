"""Route clients and models, one sub-package per route (thin re-exports).

``cmsdials.clients.<route>.models`` holds the row, page and filter models of the route,
``cmsdials.clients.<route>.client`` its client class.  Routes: ``dataset_index``,
``file_index``, ``run``, ``lumisection``, ``h1d``, ``h2d``, ``mes``, ``ml_models_index``,
``ml_bad_lumisection``, ``oms_proxy``, ``workspace``.
"""
