"""How `vidlabel finetune` splits a small labelled set: the seeded per-class split and `--folds K`."""

import collections

from vidlabel.movinet.finetune import LabelledVideo, fold_splits, split_videos

VIDEOS = [
    LabelledVideo(f"v/{label}/{n}.mp4", label) for label, count in (("a", 10), ("b", 7), ("c", 2)) for n in range(count)
]


def test_split_keeps_a_share_of_every_class_and_one_to_train():
    train, validation = split_videos(VIDEOS, 0.2, seed=1)
    assert sorted(train + validation) == list(range(len(VIDEOS)))
    held = collections.Counter(VIDEOS[i].label for i in validation)
    assert held == {"a": 2, "b": 1, "c": 1}
    assert split_videos(VIDEOS, 0.2, seed=1) == (train, validation) != split_videos(VIDEOS, 0.2, seed=2)


def test_folds_validate_every_video_once_with_every_class_spread():
    splits = fold_splits(VIDEOS, 3, seed=0)
    assert len(splits) == 3
    validated = [i for _, validation in splits for i in validation]
    assert sorted(validated) == list(range(len(VIDEOS)))  # each exactly once
    for train, validation in splits:
        assert sorted(train + validation) == list(range(len(VIDEOS)))
        per_class = collections.Counter(VIDEOS[i].label for i in validation)
        assert per_class["a"] in (3, 4) and per_class["b"] in (2, 3)  # dealt round, not in blocks
