import numpy as np
import pytest

from xares_hydra.data.labels import LABEL_RULES, LabelSpec, convert_labels, label_rule, rule_of, validate_spec
from xares_hydra.errors import ConfigError, LabelError


def spec(rule, **kwargs):
    return LabelSpec(rule=rule, **kwargs)


def test_class_map_uses_the_class_position_and_strips_names():
    labels = spec("class_map", key="emotion", classes=("neutral", "calm", "happy"))
    targets, problems = convert_labels([{"emotion": "happy"}, {"emotion": " neutral "}], labels)
    assert targets == [2, 0]
    assert problems == []


def test_class_map_matches_integer_classes_given_as_numbers_or_strings():
    notes = spec("class_map", key="note", classes=(21, 22, 23))
    assert convert_labels([{"note": 22}, {"note": "23"}], notes)[0] == [1, 2]


def test_unknown_class_and_missing_field_are_reported_not_raised():
    labels = spec("class_map", key="label", classes=("a", "b"))
    targets, problems = convert_labels([{"label": "a"}, {"label": "zebra"}, {"other": "a"}], labels)
    assert targets == [0, None, None]
    assert [index for index, _ in problems] == [1, 2]
    assert "'zebra'" in problems[0][1]
    assert "label field 'label' missing" in problems[1][1]


def test_as_int_keeps_the_index_and_rejects_out_of_range():
    labels = spec("as_int", key="label", num_classes=50)
    targets, problems = convert_labels([{"label": 49}, {"label": "7"}, {"label": 50}], labels)
    assert targets[:2] == [49, 7]
    assert problems[0][0] == 2 and "outside 0..49" in problems[0][1]


def test_binary_match_maps_the_matching_value_to_its_index():
    gender = spec("binary_match", key="gender", args={"match": "M"})
    assert convert_labels([{"gender": "M"}, {"gender": "F"}, {"gender": "x"}], gender)[0] == [0, 1, 1]


def test_multi_hot_splits_on_the_separator():
    tags = spec("multi_hot", key="soundevent", classes=("Bark", "Meow", "Speech"))
    targets, problems = convert_labels([{"soundevent": "Speech;Bark"}, {"soundevent": ""}], tags)
    np.testing.assert_array_equal(targets[0], [1, 0, 1])
    np.testing.assert_array_equal(targets[1], [0, 0, 0])
    assert problems == []


def test_events_give_onset_offset_class_triples_and_split_multi_class_labels():
    events = spec("events", classes=("Dog", "Speech"), args={"separator": ","})
    raw = [{"onset": 0.5, "offset": 1.25, "label": "Dog,Speech"}]
    assert convert_labels([raw], events)[0] == [[(0.5, 1.25, 0), (0.5, 1.25, 1)]]


def test_events_with_custom_field_names_and_bad_intervals():
    notes = spec("events", classes=(60, 61), args={"onset": "start", "offset": "end", "label": "note"})
    assert convert_labels([[{"start": 0.0, "end": 0.1, "note": 61}]], notes)[0] == [[(0.0, 0.1, 1)]]
    _, problems = convert_labels([[{"start": 1.0, "end": 0.5, "note": 60}]], notes)
    assert "not a valid interval" in problems[0][1]


def test_captions_and_transcripts():
    captions = spec("captions")
    assert convert_labels([{"caption_1": "A dog. ", "caption_2": "a cat"}], captions)[0] == [["A dog.", "a cat"]]
    joined = spec("captions", key="text", args={"separator": "."})  # MAEB's Clotho: one text, "."-joined
    assert convert_labels([{"text": "A dog barks. A cat.  "}], joined)[0] == [["A dog barks", "A cat"]]
    assert convert_labels([{"text": "one caption. "}], spec("captions", key="text"))[0] == [["one caption."]]
    transcript = spec("transcript", key="trans")
    assert convert_labels([{"trans": "HELLO World"}], transcript)[0] == ["hello world"]


def test_unknown_rule_lists_the_known_ones():
    with pytest.raises(ConfigError, match="class_map"):
        rule_of("nonsense")


def test_rules_that_need_classes_say_so():
    with pytest.raises(ConfigError, match=r"needs task\.label\.classes"):
        validate_spec(spec("class_map", key="x"), "mytask")


def test_every_rule_has_a_kind():
    assert {LABEL_RULES[name].kind for name in LABEL_RULES} == {
        "single", "multi", "regression", "events", "captions", "transcript",
    }  # fmt: skip


def test_labels_that_are_not_an_object():
    with pytest.raises(LabelError):
        LABEL_RULES["class_map"].convert(["a"], spec("class_map", key="label", classes=("a",)))


def test_a_misspelt_rule_gets_a_suggestion():
    with pytest.raises(ConfigError, match=r"task\.label\.rule='class_mapp'.*Did you mean 'class_map'"):
        rule_of("class_mapp")


def test_registering_a_rule_twice_fails():
    with pytest.raises(ValueError, match="registered twice"):
        label_rule("class_map", "single")(lambda raw, spec: raw)
