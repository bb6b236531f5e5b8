"""The run table: the long-format columns of scores.parquet and curves.parquet, defined once.

Every row carries what a sweep can vary, so tables from many runs concatenate and group
without reading any other file.
"""

# Constant within one run.
RUN_COLUMNS = [
    "experiment",  # experiment name (`name` in the config)
    "run_id",  # the run folder, relative to where xaibench was started
    "dataset",
    "dataset_params",  # JSON of the dataset generator's settings
    "model",
    "model_key",  # cache key of the trained weights (architecture, training, seed, data)
    "model_accuracy",  # test accuracy of the trained model
    "seed",
    "target_mode",  # predicted | label
    "overrides",  # the command-line overrides of this run (a sweep's varied values)
]

# One per explained sample.
SAMPLE_COLUMNS = [
    "sample",  # index of the input in the dataset's test split
    "label",
    "predicted",
    "target",  # the class explained and scored
]

SCORE_COLUMNS = [
    *RUN_COLUMNS,
    "method",
    "method_params",  # JSON of the method's settings
    "metric",
    "metric_params",  # JSON of the metric's settings
    *SAMPLE_COLUMNS,
    "value",  # the metric's score for this sample; NaN where undefined (see README)
    "higher_is_better",
]

CURVE_COLUMNS = [
    *RUN_COLUMNS,
    "method",
    "method_params",
    "metric",
    "metric_params",
    *SAMPLE_COLUMNS,
    "step",  # index along the curve, 0 = nothing perturbed
    "x",  # fraction of positions changed (deletion, insertion) or subset size n (sensitivity-n)
    "value",
]

SUMMARY_COLUMNS = [
    "method",
    "metric",
    "mean",
    "std",
    "ci_low",  # 95% bootstrap confidence interval of the mean (BCa, over samples)
    "ci_high",
    "n",  # samples with a finite score
    "n_nan",  # samples whose score is undefined (non-finite attributions, constant maps)
    "rank",  # 1 = best mean for this metric, direction-aware
    "higher_is_better",
]
