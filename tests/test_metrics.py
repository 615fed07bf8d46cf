import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from dlnotes.engine.metrics import classification_metrics, confusion_matrix, regression_metrics


@pytest.mark.parametrize("k", [2, 3, 10])
def test_classification_metrics_equal_sklearn(k):
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 500)
    p = np.where(rng.random(500) < 0.7, y, rng.integers(0, k, 500))
    m = classification_metrics(confusion_matrix(torch.from_numpy(p), torch.from_numpy(y), k))
    avg = "binary" if k == 2 else "macro"
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert m["precision"] == pytest.approx(skm.precision_score(y, p, average=avg, zero_division=0))
    assert m["recall"] == pytest.approx(skm.recall_score(y, p, average=avg, zero_division=0))
    assert m["f1"] == pytest.approx(skm.f1_score(y, p, average=avg, zero_division=0))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, p, labels=list(range(k))).tolist()


def test_binary_counts_by_hand():
    # TP=2 (1->1), FN=1 (1->0), FP=1 (0->1), TN=1: precision 2/3, recall 2/3, accuracy 3/5
    y = torch.tensor([1, 1, 1, 0, 0])
    p = torch.tensor([1, 1, 0, 1, 0])
    m = classification_metrics(confusion_matrix(p, y, 2))
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(0.6) and m["f1"] == pytest.approx(2 / 3)


def test_regression_metrics_equal_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(200, 1))
    p = y + rng.normal(scale=0.3, size=(200, 1))
    m = regression_metrics(torch.from_numpy(p), torch.from_numpy(y))
    assert m["mse"] == pytest.approx(skm.mean_squared_error(y, p))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert m["r2"] == pytest.approx(skm.r2_score(y, p))
