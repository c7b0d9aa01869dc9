"""A record's identity and report column come from its resolved settings, never from how overrides were typed."""

from __future__ import annotations

from helpers.records import record_document

from xares_hydra.report.identity import column_key, column_labels, record_identity
from xares_hydra.report.record import Record


def run_record(lr: float, *, seed: int = 42, device: str = "cpu", fingerprint: str = "f1", overrides=()) -> Record:
    record = record_document("esc50", "mine", 0.5, head={"lr": lr, "epochs": 10, "seed": seed, "device": device},
                         overrides=overrides)  # fmt: skip
    record["encoder"].update(fingerprint=fingerprint, identity=fingerprint, config={"_target_": "m.Mine", "dim": 8})
    record["config"]["task"].update(epochs=10, version=1)
    record["task"]["version"] = 1
    record["device"] = device
    return Record.model_validate(record)


def test_one_setting_however_it_was_typed():
    default = run_record(1e-3)
    typed = [run_record(0.001, overrides=("head.lr=0.001",)), run_record(1e-3 + 1e-18, overrides=("head.lr=1e-3",))]
    assert {column_key(record) for record in [default, *typed]} == {column_key(default)}
    assert {record_identity(record) for record in [default, *typed]} == {record_identity(default)}
    assert column_key(run_record(1e-2)) != column_key(default)


def test_seed_and_device_are_in_the_file_name_but_not_in_the_column():
    base = run_record(1e-3)
    other_seed, on_gpu = run_record(1e-3, seed=1), run_record(1e-3, device="cuda:0")
    assert column_key(other_seed) == column_key(base) == column_key(on_gpu)
    assert len({record_identity(base), record_identity(other_seed), record_identity(on_gpu)}) == 3
    assert record_identity(on_gpu) == record_identity(run_record(1e-3, device="cuda:1")), "cuda:0 is cuda:1"


def test_cpu_threads_are_a_runtime_knob_not_a_setting():
    threaded = run_record(1e-3)
    threaded.head["cpu_threads"] = 1
    assert column_key(threaded) == column_key(run_record(1e-3))
    assert record_identity(threaded) == record_identity(run_record(1e-3))


def test_other_encoder_weights_or_code_make_another_column_and_file():
    base, edited = run_record(1e-3), run_record(1e-3, fingerprint="f2")
    assert column_key(edited) != column_key(base) and record_identity(edited) != record_identity(base)


def test_labels_name_only_what_differs_between_the_columns_shown():
    records = [run_record(1e-3), run_record(0.1 * 3), run_record(1e-3, seed=7)]
    labels = column_labels(records)
    assert sorted(labels.values()) == ["mine", "mine [lr=0.3]"], "seeds share a column; 0.30000000000000004 rounded"
    wider = run_record(1e-3, fingerprint="f3")
    wider.encoder.config["dim"] = 16  # type: ignore[index]
    assert sorted(column_labels([run_record(1e-3), wider]).values()) == [
        "mine [encoder.dim=16]",
        "mine [encoder.dim=8]",
    ]
