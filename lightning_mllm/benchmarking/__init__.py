"""The training speed bench: workload, FLOP accounting, project and baseline runs, report."""
