"""The demo community: an invented, realistic community that `seed_demo` fills an empty database with.

- `config.json`: its sources, areas and conversion points, a configuration-as-code file (the format
  `load_config` reads; docs/contracts.md §3). Its sources are never synced (`schedule_minutes` 0):
  their data is invented and must not mix with real data.
- `generator.py` (with `names.py`): its activity records, deterministic.
- `configured.py`: records that fit any other configuration instead (`seed_demo --config FILE`).
- `services.py`: `demo_seed`, which stores both through the same services as every other way in.
"""
