"""What the published MoViNets' aliases and URLs say about them: variant, mode, TFLite or not, version."""

import pytest

from vidlabel.movinet import ModelError, published
from vidlabel.movinet.published import PublishedModel

A2_BASE = PublishedModel("a2", "base", None, 3)


def test_aliases_are_the_tutorial_models_and_name_what_their_urls_name():
    base_and_stream = {f"a{i}-{mode}" for i in range(6) for mode in ("base", "stream")}
    assert set(published.ALIASES) == base_and_stream | {"a0-stream-tflite", "a1-stream-tflite", "a2-stream-tflite"}
    for alias, url in published.ALIASES.items():
        assert published.published_model(alias) == published.published_model(url) is not None
    assert published.published_model("a2-base") == A2_BASE
    assert published.published_model("a1-stream-tflite") == PublishedModel("a1", "stream", "float16", 1)


@pytest.mark.parametrize(
    "url",
    [
        "https://tfhub.dev/tensorflow/movinet/a2/base/kinetics-600/classification/3",
        "https://tfhub.dev/tensorflow/movinet/a2/base/kinetics-600/classification/3/",
        "http://mirror.internal:8080/hub/tensorflow/movinet/a2/base/kinetics-600/classification/3",
        "https://www.kaggle.com/models/google/movinet/TensorFlow2/a2-base-kinetics-600-classification/3",
        "https://www.kaggle.com/api/v1/models/google/movinet/frameworks/tensorFlow2/variations/"
        "a2-base-kinetics-600-classification/versions/3",
    ],
)
def test_a_published_path_is_the_model_whatever_the_host(url):
    assert published.published_model(url) == A2_BASE


def test_tflite_urls_say_their_quantisation():
    lite = "https://tfhub.dev/tensorflow/lite-model/movinet/a0/stream/kinetics-600/classification/tflite/int8/1"
    assert published.published_model(lite) == PublishedModel("a0", "stream", "int8", 1)
    kaggle = (
        "https://www.kaggle.com/models/google/movinet/tfLite/a1-stream-kinetics-600-classification-tflite-float16/2"
    )
    assert published.published_model(kaggle) == PublishedModel("a1", "stream", "float16", 2)
    assert published.tflite_url(lite) == lite + "?lite-format=tflite"
    assert published.tflite_url(lite + "?lite-format=tflite") == lite + "?lite-format=tflite"


@pytest.mark.parametrize(
    "model",
    [
        "https://www.kaggle.com/models/google/movinet/TensorFlow2/a0-stream-kinetics-600-classification-tflite-int8/1",
        "https://www.kaggle.com/models/google/movinet/TFLite/a0-stream-kinetics-600-classification/1",
        "https://www.kaggle.com/models/google/movinet/TFLite/a0-base-kinetics-600-classification-tflite-int8/1",
        "https://tfhub.dev/tensorflow/movinet/a6/base/kinetics-600/classification/3",
        "https://example.com/my/model",
        "a6-base",
        "models/a0-base",
        "gs://bucket/tensorflow/movinet/a2/base/kinetics-600/classification/3",
    ],
)
def test_framework_mismatches_and_other_models_are_not_published(model):
    assert published.published_model(model) is None


def test_metadata_and_signature_of_a_published_model_come_from_its_name():
    a3 = published.published_metadata(published.published_model("a3-stream"), "src")
    assert (a3.fps, a3.resolution, a3.clip_frames, a3.num_classes, a3.mode) == (12, 256, 120, 600, "stream")
    assert published.published_signature("a2-base") == (
        "base",
        (None, None, None, None, 3),
        "classifier_head",
        600,
        640,
    )
    assert published.published_signature("a2-stream") == ("stream", (None, 1, None, None, 3), "logits", 600, 640)
    assert published.published_signature("a1-stream-tflite") == ("tflite", (1, 1, 172, 172, 3), "logits", 600, 600)
    with pytest.raises(ModelError, match="--model my/model: not a published model"):
        published.published_signature("my/model")


def test_the_labels_location_can_be_moved_by_the_environment(monkeypatch):
    monkeypatch.delenv(published.KINETICS_600_LABELS_URL_ENV, raising=False)
    assert published.kinetics_labels_url() == published.KINETICS_600_LABELS_URL
    monkeypatch.setenv(published.KINETICS_600_LABELS_URL_ENV, "gs://mirror/labels.txt")
    assert published.kinetics_labels_url() == "gs://mirror/labels.txt"
