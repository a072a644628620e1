"""ap_expr's grammar (util_expr_parse.y): the rules, in bison's order and with its
precedences, and the LALR(1) tables built from them (with bison's default reductions)."""

from __future__ import annotations

from functools import lru_cache

from featherd.core.expr.scanner import _TOKEN_NAMES

_CMP_OPS = ("T_OP_EQ", "T_OP_NE", "T_OP_LT", "T_OP_LE", "T_OP_GT", "T_OP_GE", "T_OP_STR_EQ",
            "T_OP_STR_NE", "T_OP_STR_LT", "T_OP_STR_LE", "T_OP_STR_GT", "T_OP_STR_GE")
#: (lhs, rhs, action); rule 0 is $accept
_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("$accept", ("root", "$end"), "accept"),
    ("root", ("T_EXPR_BOOL", "expr"), "root"),
    ("root", ("T_EXPR_STRING", "string"), "root"),
    ("root", ("T_ERROR",), "abort"),
    ("expr", ("T_TRUE",), "true"),
    ("expr", ("T_FALSE",), "false"),
    ("expr", ("T_OP_NOT", "expr"), "not"),
    ("expr", ("expr", "T_OP_OR", "expr"), "or"),
    ("expr", ("expr", "T_OP_AND", "expr"), "and"),
    ("expr", ("comparison",), "comp"),
    ("expr", ("T_OP_UNARY", "word"), "unary"),
    ("expr", ("word", "T_OP_BINARY", "word"), "binary"),
    ("expr", ("'('", "expr", "')'"), "paren"),
    ("expr", ("T_ERROR",), "abort"),
    *(("comparison", ("word", op, "word"), "cmp") for op in _CMP_OPS),
    ("comparison", ("word", "T_OP_IN", "wordlist"), "in"),
    ("comparison", ("word", "T_OP_REG", "regex"), "reg"),
    ("comparison", ("word", "T_OP_NRE", "regex"), "nre"),
    ("wordlist", ("lstfunccall",), "pass"),
    ("wordlist", ("'{'", "words", "'}'"), "list"),
    ("words", ("word",), "words1"),
    ("words", ("words", "','", "word"), "words"),
    ("string", ("string", "strpart"), "concat2"),
    ("string", ("strpart",), "pass"),
    ("string", ("T_ERROR",), "abort"),
    ("strpart", ("T_STRING",), "string"),
    ("strpart", ("var",), "pass"),
    ("strpart", ("backref",), "pass"),
    ("var", ("T_VAR_BEGIN", "T_ID", "T_VAR_END"), "var"),
    ("var", ("T_VAR_BEGIN", "T_ID", "':'", "string", "T_VAR_END"), "varfunc"),
    ("word", ("word", "T_OP_CONCAT", "word"), "concat"),
    ("word", ("T_DIGIT",), "digit"),
    ("word", ("T_STR_BEGIN", "T_STR_END"), "empty"),
    ("word", ("T_STR_BEGIN", "string", "T_STR_END"), "quoted"),
    ("word", ("var",), "pass"),
    ("word", ("backref",), "pass"),
    ("word", ("strfunccall",), "pass"),
    ("regex", ("T_REGEX",), "regex"),
    ("regex", ("T_REGEX_I",), "regex_i"),
    ("backref", ("T_REGEX_BACKREF",), "backref"),
    ("lstfunccall", ("T_ID", "'('", "word", "')'"), "listfunc"),
    ("strfunccall", ("T_ID", "'('", "word", "')'"), "func"),
)
#: %right T_OP_OR / T_OP_AND / T_OP_NOT / T_OP_CONCAT (later is tighter)
_PREC = {"T_OP_OR": 1, "T_OP_AND": 2, "T_OP_NOT": 3, "T_OP_CONCAT": 4}
_TERMS = frozenset(_TOKEN_NAMES)


class _Tables:
    """LALR(1) actions: ``action[state][token]`` is ("s", state) or ("r", rule);
    ``default[state]`` a rule or None; ``goto[state][nonterminal]``."""

    def __init__(self) -> None:
        rules = _RULES
        by_lhs: dict[str, list[int]] = {}
        for k, (lhs, _, _) in enumerate(rules):
            by_lhs.setdefault(lhs, []).append(k)
        first: dict[str, set[str]] = {t: {t} for t in _TERMS}
        for nt in by_lhs:
            first[nt] = set()
        changed = True
        while changed:
            changed = False
            for lhs, rhs, _ in rules:
                add = first[rhs[0]] - first[lhs]
                if add:
                    first[lhs] |= add
                    changed = True

        def closure0(kernel: frozenset[tuple[int, int]]) -> set[tuple[int, int]]:
            out = set(kernel)
            todo = list(kernel)
            while todo:
                r, d = todo.pop()
                rhs = rules[r][1]
                if d < len(rhs) and rhs[d] in by_lhs:
                    for k in by_lhs[rhs[d]]:
                        if (k, 0) not in out:
                            out.add((k, 0))
                            todo.append((k, 0))
            return out

        start = frozenset({(0, 0)})
        kernels = [start]
        index = {start: 0}
        trans: list[dict[str, int]] = []
        k = 0
        while k < len(kernels):
            items = closure0(kernels[k])
            moves: dict[str, set[tuple[int, int]]] = {}
            for r, d in sorted(items):
                rhs = rules[r][1]
                if d < len(rhs) and rhs[d] != "$end":
                    moves.setdefault(rhs[d], set()).add((r, d + 1))
            t: dict[str, int] = {}
            for sym, nk in moves.items():
                fk = frozenset(nk)
                if fk not in index:
                    index[fk] = len(kernels)
                    kernels.append(fk)
                t[sym] = index[fk]
            trans.append(t)
            k += 1
        # lookaheads, propagated to a fixpoint
        la: list[dict[tuple[int, int], set[str]]] = [{it: set() for it in kern}
                                                     for kern in kernels]
        la[0][(0, 0)].add("$end")
        reduce_la: list[dict[int, set[str]]] = [{} for _ in kernels]
        changed = True
        while changed:
            changed = False
            for st, kern in enumerate(kernels):
                cl: dict[tuple[int, int], set[str]] = {it: set(la[st][it]) for it in kern}
                todo = list(kern)
                while todo:
                    it = todo.pop()
                    r, d = it
                    rhs = rules[r][1]
                    if d < len(rhs) and rhs[d] in by_lhs:
                        follow = first[rhs[d + 1]] if d + 1 < len(rhs) else cl[it]
                        for k2 in by_lhs[rhs[d]]:
                            cur = cl.setdefault((k2, 0), set())
                            if not follow <= cur:
                                cur |= follow
                                todo.append((k2, 0))
                for (r, d), look in cl.items():
                    rhs = rules[r][1]
                    if d == len(rhs):
                        cur = reduce_la[st].setdefault(r, set())
                        if not look <= cur:
                            cur |= look
                            changed = True
                    elif rhs[d] != "$end":
                        tgt = la[trans[st][rhs[d]]][(r, d + 1)]
                        if not look <= tgt:
                            tgt |= look
                            changed = True
        self.action: list[dict[str, tuple[str, int]]] = []
        self.default: list[int | None] = []
        self.goto: list[dict[str, int]] = []
        self.reads: list[bool] = []
        self.accept: set[int] = set()
        for st, kern in enumerate(kernels):
            row: dict[str, tuple[str, int]] = {}
            if (0, 1) in kern:
                self.accept.add(st)
                row["$end"] = ("a", 0)
            for sym, tgt in trans[st].items():
                if sym in _TERMS:
                    row[sym] = ("s", tgt)
            for r in sorted(reduce_la[st]):
                rp = _PREC.get(next((s for s in reversed(rules[r][1]) if s in _TERMS), ""))
                for tok in reduce_la[st][r]:
                    cur = row.get(tok)
                    if cur is None:
                        row[tok] = ("r", r)
                    elif cur[0] == "s":
                        tp = _PREC.get(tok)
                        if rp is not None and tp is not None and rp > tp:
                            row[tok] = ("r", r)     # %right: equal precedence shifts
            default = None
            best = 0
            for r in sorted(reduce_la[st]):
                count = sum(1 for a in row.values() if a == ("r", r))
                if count > best:
                    best, default = count, r
            if default is not None:
                row = {t: a for t, a in row.items() if a != ("r", default)}
            self.action.append(row)
            self.default.append(default)
            self.goto.append({s: t for s, t in trans[st].items() if s not in _TERMS})
            self.reads.append(bool(row))


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    return _Tables()
