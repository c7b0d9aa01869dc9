"""A job's scores do not depend on what ran before it in the process: a sweep with the basic launcher runs all its
jobs in one, so an earlier job's heads, threads or drawn random numbers must not reach a later job's score."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from helpers.cli import SMALL_TIMBRE, xares

pytest.importorskip("transformers")

SMALL = ("+task.generator.args.scale=0.3", "task.epochs=3")
DIGITS = ("task=demo/digits", *SMALL)  # the ASR head with the builtin-tiny LM
CAPTIONS = ("task=demo/captions", *SMALL)  # the retrieval head
LEARNED = ("test", "valid", "best_epoch", "valid_history", "train_loss_history")


@pytest.mark.slow
def test_a_jobs_scores_do_not_depend_on_the_jobs_before_it_in_the_process(xares_root):
    def scores(*overrides: str) -> dict:
        """Per head and round: test and valid scores, best epoch, every epoch's loss and validation score."""
        record = xares(*overrides, "encoder=mel", "head.cpu_threads=1", root=xares_root)
        assert record["status"] == "ok"
        return {
            (slot, name): {key: value for key, value in result.items() if key in LEARNED}
            for slot, head in record["scores"].items()
            for name, result in head["rounds"].items()
        }

    digits = scores(*DIGITS)
    captions, timbre = scores(*CAPTIONS), scores(*SMALL_TIMBRE)  # the retrieval, MLP and kNN heads
    torch.rand(3), np.random.rand(3), random.random()  # what any job may leave behind: drawn global generators
    assert scores(*DIGITS) == digits
    assert scores(*CAPTIONS) == captions
    assert scores(*SMALL_TIMBRE) == timbre
    losses = digits["mlp", "test"]["train_loss_history"]
    assert len(losses) == 3 and losses[-1] < losses[0]  # the ASR head trained: a changed weight shows in these
