"""Writes examples/passengers.csv: a synthetic passenger list shaped like the Titanic table.

Same columns and kinds of trouble as the famous one (text categories, a numeric class that is
really a category, missing ages, a mostly empty cabin column, two missing ports, names and tickets
that identify a row), generated from a fixed seed with a known survival model, so it ships with
no licence question: the numbers are made up. Run: python examples/make_passengers.py [ROWS]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

MEN = ["John", "William", "James", "George", "Thomas", "Charles", "Henry", "Joseph", "Frederick", "Arthur"]
WOMEN = ["Mary", "Anna", "Elizabeth", "Margaret", "Helen", "Alice", "Emma", "Edith", "Bertha", "Ellen"]
TICKETS = ["", "", "", "", "PC ", "A/5 ", "STON/O2. ", "CA ", "SC/PARIS "]
LAST = ["Smith", "Brown", "Johnson", "Andersson", "Kelly", "Olsen", "Harris", "Murphy", "Carter", "Nilsson",
        "Baker", "Collins", "Dean", "Fortune", "Goldsmith", "Hansen", "Ivanov", "Jensen", "Keane", "Lindqvist"]


def passengers(n: int = 1000, seed: int = 0) -> str:
    """The CSV text of ``n`` passengers; survival ~ Bernoulli(sigmoid(logit)) with the logit below."""
    rng = np.random.default_rng(seed)
    pclass = rng.choice([1, 2, 3], n, p=[0.24, 0.21, 0.55])
    female = rng.random(n) < 0.35
    age = np.clip(rng.normal(30 - 4 * (pclass == 3), 13, n), 0.4, 80).round(1)
    sibsp = rng.poisson(0.5, n)
    parch = rng.poisson(0.4, n)
    fare = np.round(np.exp(rng.normal([4.2, 3.0, 2.2], 0.5)[pclass - 1] + 0.1 * rng.standard_normal(n)), 2)
    port = rng.choice(["S", "C", "Q"], n, p=[0.72, 0.19, 0.09])
    logit = 2.5 * female - 1.1 * (pclass - 2) - 0.03 * (age - 30) - 0.3 * sibsp + 0.4 * (port == "C") - 0.5
    survived = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    lines = ["PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"]
    for i in range(n):
        title = ("Mrs." if rng.random() < 0.6 else "Miss.") if female[i] else ("Master." if age[i] < 12 else "Mr.")
        first = (WOMEN if female[i] else MEN)[rng.integers(10)]
        name = f'"{LAST[rng.integers(len(LAST))]}, {title} {first} {i}"'
        ticket = f"{TICKETS[rng.integers(len(TICKETS))]}{rng.integers(10000, 400000)}"
        cabin = f"{'ABCDEF'[rng.integers(6)]}{rng.integers(1, 130)}" if pclass[i] == 1 and rng.random() < 0.7 else ""
        a = "" if rng.random() < 0.2 else f"{age[i]:g}"  # a fifth of the ages unknown, as in the real list
        e = "" if i in (61, 829) else port[i]
        lines.append(f"{i + 1},{survived[i]},{pclass[i]},{name},{'female' if female[i] else 'male'},{a},"
                     f"{sibsp[i]},{parch[i]},{ticket},{fare[i]:.2f},{cabin},{e}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    out = Path(__file__).with_name("passengers.csv")
    out.write_text(passengers(rows))
    print(f"wrote {out} ({rows} rows)")
