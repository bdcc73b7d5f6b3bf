"""File count and longest functions of rsketch/ and solvers/ (code lines, docstring excluded).

    python tools/code_stats.py [TREE]          # TREE defaults to the repository root
"""

import ast
import sys
from pathlib import Path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else Path(__file__).resolve().parents[1])
    files = [p for d in ("rsketch", "solvers") for p in (root / d).rglob("*.py")]
    rows = []
    for p in files:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                total = node.end_lineno - node.lineno + 1
                doc = 0
                if ast.get_docstring(node):
                    doc = node.body[0].end_lineno - node.body[0].lineno + 1
                rows.append((total - doc, total, f"{p.relative_to(root)}:{node.lineno} {node.name}"))
    rows.sort(reverse=True)
    print(f"{len(files)} .py files in rsketch/ and solvers/; longest functions (code lines, total lines):")
    for code, total, where in rows[:5]:
        print(f"  {code:4d} {total:4d}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
