"""Does the pretraining help? Linear and kNN probes, baselines, label-fraction tables, ranking for
labelling, a classifier export and the run report. Engine-side: no Qt here."""
