"""The reference programme hub (``werkvloer hub``): receives KPI batches from boxes."""
