"""MAEB's probe (MTEB's ``AbsTaskClassification``): scikit-learn's ``LogisticRegression(max_iter=100)`` on the
pooled clip vectors, one per label for multi-label tasks; no epochs, so nothing is selected on validation data
(its validation score is recorded all the same)."""

from __future__ import annotations

import warnings

import numpy as np

from xares_hydra.data.labels import MULTI
from xares_hydra.heads import HeadContext, RoundData, RoundScore, head
from xares_hydra.heads.linear_probe import stack_targets
from xares_hydra.heads.predictions import clip_predictions

MAX_ITER = 100


@head("logreg")
def logreg(data: RoundData, context: HeadContext) -> RoundScore:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    kind, n_classes = context.task.label.kind, context.task.label.class_count
    model = LogisticRegression(max_iter=MAX_ITER, random_state=context.settings.seed)
    classifier = OneVsRestClassifier(model) if kind == MULTI else model
    with warnings.catch_warnings():  # as MTEB: 100 iterations, converged or not
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(data.train.pooled, stack_targets(data.train.known_targets, kind))

    def outputs(pooled: np.ndarray) -> np.ndarray:
        """Class probabilities [N, classes]; a class the training clips lack scores 0."""
        if kind == MULTI:
            return classifier.predict_proba(pooled)
        scores = np.zeros((len(pooled), n_classes))
        scores[:, classifier.classes_] = classifier.predict_proba(pooled)
        return scores

    valid = context.metric(stack_targets(data.valid.known_targets, kind), outputs(data.valid.pooled))
    targets, scores = stack_targets(data.test.known_targets, kind), outputs(data.test.pooled)
    predictions = clip_predictions(context.metric.name, data.test.clip_keys, targets, scores)
    return RoundScore(test=context.metric(targets, scores), valid=valid, predictions=predictions)
