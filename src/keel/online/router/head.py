"""The router's trained head: e5 sentence vectors + character n-grams → calibrated class probabilities.

The e5 vector carries meaning across languages and paraphrases; character 1–3-grams (on the
normalised text) carry what embeddings blur: typos ("live agemt"), slang, short forms ("rg", "转人工").
A multinomial logistic regression over both, calibrated by isotonic-free sigmoid scaling through
cross-validation (scikit-learn's ``CalibratedClassifierCV``), gives probabilities a threshold can trust.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keel.online.router.banks import Need
from keel.text import normalize

#: weight of the dense block against the n-gram block (both L2-normalised rows)
DENSE_WEIGHT = 1.5


class RouterHead:
    """A fitted head; ``predict_proba`` returns one row per text, columns in ``Need`` order."""

    def __init__(self, vectorizer: Any, classifier: Any) -> None:
        self.vectorizer = vectorizer
        self.classifier = classifier

    @property
    def classes(self) -> list[Need]:
        return [Need(c) for c in self.classifier.classes_]

    def features(self, texts: Sequence[str], vecs: np.ndarray) -> Any:
        from scipy.sparse import csr_matrix, hstack

        grams = self.vectorizer.transform([normalize(t) for t in texts])
        return hstack([csr_matrix(vecs * DENSE_WEIGHT), grams]).tocsr()

    def predict_proba(self, texts: Sequence[str], vecs: np.ndarray) -> np.ndarray:
        raw = self.classifier.predict_proba(self.features(texts, vecs))
        out = np.zeros((len(texts), len(Need)), dtype=np.float64)
        order = list(Need)
        for j, need in enumerate(self.classes):
            out[:, order.index(need)] = raw[:, j]
        return out


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=60_000)


def _classifier(seed: int, calibrate: bool) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    base = LogisticRegression(C=4.0, max_iter=3000, class_weight="balanced", random_state=seed)
    return CalibratedClassifierCV(base, method="sigmoid", cv=3) if calibrate else base


def fit_head(texts: Sequence[str], labels: Sequence[Need], vecs: np.ndarray, seed: int = 0) -> RouterHead:
    """Fit vectoriser and calibrated classifier on a bank (seconds on CPU)."""
    vectorizer = _vectorizer().fit([normalize(t) for t in texts])
    head = RouterHead(vectorizer, _classifier(seed, calibrate=False))
    x = head.features(texts, vecs)
    classifier = _classifier(seed, calibrate=True).fit(x, [str(label) for label in labels])
    return RouterHead(vectorizer, classifier)


def cross_validate(
    texts: Sequence[str], labels: Sequence[Need], vecs: np.ndarray, folds: int = 5, seed: int = 0
) -> list[Need]:
    """Out-of-fold predictions on the training bank (a dev estimate; the held-out bank is the real test)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.array([str(label) for label in labels])
    pred = np.empty(len(texts), dtype=object)
    order = list(Need)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        head = fit_head([texts[i] for i in train], [labels[i] for i in train], vecs[train], seed)
        probs = head.predict_proba([texts[i] for i in test], vecs[test])
        pred[test] = [order[k] for k in probs.argmax(axis=1)]
    return list(pred)
