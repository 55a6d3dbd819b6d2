#!/usr/bin/env python3
"""Bounds an adversary can put on hidden report cells.

Reads a JSON problem from the file named on the command line: `kinds` (the number of unknowns,
each the count of one kind of pathway, a whole number >= 0), `shown` (figures shown: the kinds each
adds up and the value shown) and `cells` (hidden figures to bound: the kinds each adds up). For
each cell it solves two linear programmes (HiGHS through SciPy): the least and the greatest value the
cell can take while every shown figure keeps its value. A hidden figure is only known to be >= 0:
hidden zeros exist (a hidden margin hides its zeros too) and a complement may be any size.

Prints one JSON list: for each cell, [least, greatest] rounded inwards to whole numbers.
"""
import json
import math
import sys

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix


def main():
    with open(sys.argv[1]) as file:
        problem = json.load(file)
    kinds = problem["kinds"]
    rows, columns, values = [], [], []
    for row, (members, _) in enumerate(problem["shown"]):
        rows += [row] * len(members)
        columns += members
        values += [1.0] * len(members)
    equalities = csr_matrix((values, (rows, columns)), shape=(len(problem["shown"]), kinds))
    targets = np.array([value for _, value in problem["shown"]], dtype=float)
    bounds = []
    for members in problem["cells"]:
        objective = np.zeros(kinds)
        objective[members] = 1.0
        ends = []
        for sign in (1.0, -1.0):
            result = linprog(sign * objective, A_eq=equalities, b_eq=targets, bounds=(0, None), method="highs")
            if result.status != 0:
                raise SystemExit(f"linear programme failed: {result.message}")
            ends.append(sign * result.fun)
        least, greatest = ends
        bounds.append([math.ceil(least - 1e-6), math.floor(greatest + 1e-6)])
    json.dump(bounds, sys.stdout)


if __name__ == "__main__":
    main()
