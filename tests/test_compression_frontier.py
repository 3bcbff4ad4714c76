"""The Pareto frontier and the validation choices of notebook 06 (distill_lib.compression.frontier)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.compression.frontier import best_within_budget, pareto_front, smallest_within
from distill_lib.compression.sweep import Arm
from distill_lib.stats import Runs


def brute_force_front(costs, accuracies):
    """Points no other point dominates (no more cost, at least the accuracy, better in one); first of duplicates."""
    keep = []
    for i, (c, a) in enumerate(zip(costs, accuracies)):
        dominated = any((c2 <= c and a2 >= a and (c2 < c or a2 > a)) or (c2 == c and a2 == a and j < i)
                        for j, (c2, a2) in enumerate(zip(costs, accuracies)) if j != i)
        if not dominated:
            keep.append(i)
    return sorted(keep, key=lambda i: (costs[i], -accuracies[i]))


def test_pareto_front_hand_example():
    # 1 byte/90 %: cheapest; 2/89: worse and dearer; 3/95: better; 4/95: as good but dearer
    assert pareto_front([1, 2, 3, 4], [90.0, 89.0, 95.0, 95.0]) == [0, 2]
    assert pareto_front([5.0], [50.0]) == [0]
    assert pareto_front([2, 1], [80.0, 80.0]) == [1]  # the cheaper of two equally accurate points


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 8), st.integers(0, 8)), min_size=1, max_size=12))
def test_pareto_front_matches_brute_force(points):
    costs = [float(c) for c, _ in points]
    accuracies = [float(a) for _, a in points]
    front = pareto_front(costs, accuracies)
    assert front == brute_force_front(costs, accuracies)
    along = [accuracies[i] for i in front]
    assert along == sorted(along) and len(set(along)) == len(along)  # accuracy strictly rises along it


@pytest.mark.parametrize(
    "costs, accuracies, error, match",
    [
        ([1, 2], [90.0], ValueError, "equal length"),
        ([], [], ValueError, "non-empty"),
        ([1, float("nan")], [1.0, 2.0], ValueError, r"costs\[1\]=nan"),
        ("ab", [1.0, 2.0], TypeError, "costs must be a sequence"),
        ([1, 2], [1.0, "x"], TypeError, r"accuracies\[1\]"),
    ],
)
def test_pareto_front_bad_input(costs, accuracies, error, match):
    with pytest.raises(error, match=match):
        pareto_front(costs, accuracies)


def arm(val_hits, size, name="m", n=10, seeds=(0, 1)):
    """An Arm whose every seed gets the first ``val_hits`` of ``n`` validation images right."""
    row = np.arange(n) < val_hits
    runs = Runs(np.stack([row] * len(seeds)), seeds)
    return Arm({"kind": "pipeline", "label": name}, runs, runs, tuple([size] * len(seeds)))


def test_smallest_within_and_best_within_budget():
    teacher = arm(10, 4000, "teacher")  # 100 % on validation, 4,000 bytes
    arms = [arm(10, 1000, "big"), arm(9, 100, "small"), arm(9, 80, "smaller"), arm(8, 10, "tiny")]
    # within 10 points of 100 %: 90 % holds; the smallest such is 80 bytes
    assert smallest_within(arms, teacher, tolerance=10.0).params["label"] == "smaller"
    assert smallest_within(arms, teacher, tolerance=0.0).params["label"] == "big"
    assert smallest_within(arms[1:], teacher, tolerance=5.0) is None  # nothing holds a 5-point line
    # 40x: at most 100 bytes -> the most accurate of small (90 %, 100 B) and smaller (90 %, 80 B): the smaller
    assert best_within_budget(arms, teacher, 40).params["label"] == "smaller"
    assert best_within_budget(arms, teacher, 400).params["label"] == "tiny"
    assert best_within_budget(arms, teacher, 1000) is None


@pytest.mark.parametrize("bad, error, match", [(-1.0, ValueError, "tolerance=-1.0"), ("1", TypeError, "tolerance")])
def test_smallest_within_bad_tolerance(bad, error, match):
    with pytest.raises(error, match=match):
        smallest_within([arm(9, 10)], arm(10, 100), tolerance=bad)


@pytest.mark.parametrize("bad, error, match", [(0, ValueError, "ratio=0"), (float("inf"), ValueError, "ratio=inf")])
def test_best_within_budget_bad_ratio(bad, error, match):
    with pytest.raises(error, match=match):
        best_within_budget([arm(9, 10)], arm(10, 100), bad)


def test_choices_refuse_non_arms():
    with pytest.raises(TypeError, match="teacher must be an Arm"):
        smallest_within([arm(9, 10)], "teacher")
    with pytest.raises(TypeError, match=r"arms\[1\] must be an Arm"):
        best_within_budget([arm(9, 10), 3], arm(10, 100), 2)
    with pytest.raises(TypeError, match="non-empty list"):
        best_within_budget([], arm(10, 100), 2)


def test_front_of_all_permutations_is_the_same_set():
    costs, accuracies = [3.0, 1.0, 2.0, 4.0], [91.0, 90.0, 90.5, 89.0]
    expected = {(costs[i], accuracies[i]) for i in pareto_front(costs, accuracies)}
    for perm in itertools.permutations(range(4)):
        c, a = [costs[i] for i in perm], [accuracies[i] for i in perm]
        assert {(c[i], a[i]) for i in pareto_front(c, a)} == expected
