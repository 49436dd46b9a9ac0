"""Write the derivations of the lecture notes' worked examples as LaTeX and Markdown.

    python examples/build.py            # writes examples/*.tex and examples/*.md
    pdflatex examples/det_axb.tex       # each .tex is a standalone document
    pdftoppm -png -r 100 -f 1 -l 1 -x 60 -y 70 -W 760 -H 460 -singlefile det_axb.pdf examples/det_axb
                                        # the picture README shows
"""

from pathlib import Path

import matcalc
from matcalc.render import render, write_atomically

HERE = Path(__file__).resolve().parent

# (file stem, expression, variable, declarations, order)
EXAMPLES = [
    ("quadratic_product", "(x^T A x)(x^T B x)", "x", {"A": "symmetric", "B": "symmetric"}, 1),
    ("norm_cubed", "||x||^3", "x", {}, 1),
    ("norm_cubed_hessian", "||x||^3", "x", {}, 2),
    ("det_axb", "det(AXB)", "X", {}, 1),
    ("softmax_regression", "-y^T log(softmax(W x + b))", "W", {"y": "onehot"}, 1),
    ("logistic_regression_pm1", "sum(log(1 + exp(-y .* (X w))))", "w", {"y": "pm1"}, 2),
    ("two_layer_net", "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2", "W1", {}, 1),
    # batched layers: rows are examples, softmax along each row
    ("batched_cross_entropy", "-sum(Y .* logsoftmax(X W + ones b^T))", "W", {}, 1),
    ("attention", "Q = X W_q; K = X W_k; V = X W_v; A = softmax(Q K^T / sqrt(d)); sum(G .* (A V))", "W_q",
     {"d": "scalar"}, 1),
    ("layer_norm", "Xh = (X - mean(X, 2) ones^T) ./ (sqrt(var(X, 2) + eps) ones^T); sum(G .* (Xh .* (ones g^T) + ones b^T))",
     "X", {"eps": "scalar"}, 1),
    ("residual_block", "sum(G .* (X + relu(X W_1) W_2))", "W_1", {}, 1),
    ("two_layer_classifier", "H = relu(X W_1 + ones b_1^T); -sum(Y .* logsoftmax(H W_2 + ones b_2^T))", "W_1", {}, 1),
]


def build(folder: Path = HERE) -> list[Path]:
    written = []
    for stem, text, wrt, declare, order in EXAMPLES:
        derivation = matcalc.derive(text, wrt=wrt, declare=declare, order=order)
        for fmt in ("tex", "md"):
            path = folder / f"{stem}.{fmt}"
            write_atomically(str(path), render(derivation, fmt))
            written.append(path)
    return written


if __name__ == "__main__":
    for path in build():
        print(path.relative_to(HERE.parent))
