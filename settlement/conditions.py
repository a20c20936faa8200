"""The condition language of rule files, and its one evaluator.

A condition is one of:

- ``{"fact": NAME, "op": OP, "value": V, "zh": "..."}`` with OP among ``== != >= > <= < in``
  (``in``: V is a list); enum facts compare by their catalogue order, so
  ``{"fact": "degree", "op": ">=", "value": "junior_college"}`` means 大专及以上;
- ``{"fact": NAME, "op": ">=", "other": NAME2}``: a fact against another fact;
- ``{"fact": NAME, "op": ">=", "const": C}``: a fact against a policy constant of the rule set
  (``constants.C``: a number the document sets, or popbase's placeholder where it sets none);
- ``{"all": [...], "zh": "..."}`` and ``{"any": [...], "zh": "..."}``.

Evaluation gives every leaf ``met``, ``unmet`` or ``missing`` (the fact is unknown) with the
value it read. ``all`` is unmet if one part is unmet, else missing if one is missing; ``any`` is
met if one part is met, else missing if one is missing.
"""

from __future__ import annotations

from typing import Any

from settlement.facts import FACTS

MET, UNMET, MISSING = "met", "unmet", "missing"
OPS = ("==", "!=", ">=", ">", "<=", "<", "in")


class RuleError(ValueError):
    pass


def _check_value(name: str, value: Any, where: str) -> None:
    spec = FACTS[name]
    if spec.type == "bool" and not isinstance(value, bool):
        raise RuleError(f"{where}: {name} 须与 true/false 比较 / compare with a boolean")
    if spec.type in ("int", "number") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise RuleError(f"{where}: {name} 须与数值比较 / compare with a number")
    if spec.type == "enum" and value not in spec.choices:
        raise RuleError(f"{where}: {name} 取值 {value!r} 不在 {list(spec.choices)} 中")
    if spec.type == "string" and not isinstance(value, str):
        raise RuleError(f"{where}: {name} 须与字符串比较 / compare with a string")


def condition_validate(cond: Any, where: str = "condition", constants: dict | None = None) -> None:
    """Refuse a malformed condition with the path to the bad part."""
    if not isinstance(cond, dict):
        raise RuleError(f"{where}: 条件须为对象 / a condition must be an object")
    for key in ("all", "any"):
        if key in cond:
            parts = cond[key]
            if not isinstance(parts, list) or not parts:
                raise RuleError(f"{where}.{key}: 须为非空列表 / must be a non-empty list")
            extra = set(cond) - {key, "zh"}
            if extra:
                raise RuleError(f"{where}: 多余的键 {sorted(extra)} / unexpected keys")
            for i, part in enumerate(parts):
                condition_validate(part, f"{where}.{key}[{i}]", constants)
            return
    name, op = cond.get("fact"), cond.get("op")
    if name not in FACTS:
        raise RuleError(f"{where}: 未知事实 {name!r} / unknown fact")
    if op not in OPS:
        raise RuleError(f"{where}: 未知运算 {op!r} / unknown operator")
    if not isinstance(cond.get("zh"), str) or not cond["zh"].strip():
        raise RuleError(f"{where}: 须有中文说明 zh / needs a Chinese label")
    extra = set(cond) - {"fact", "op", "value", "other", "const", "zh"}
    if extra or sum(k in cond for k in ("value", "other", "const")) != 1:
        raise RuleError(
            f"{where}: 须有 value、other、const 之一 / needs exactly one of value, other, const"
        )
    spec = FACTS[name]
    if op in ("<", "<=", ">", ">=") and spec.type not in ("int", "number", "enum"):
        raise RuleError(f"{where}: {name} 不能比较大小 / not ordered")
    if "const" in cond:
        name_c = cond["const"]
        if name_c not in (constants or {}) or op == "in":
            raise RuleError(f"{where}: 未定义的常量 {name_c!r} / undefined constant")
        _check_value(name, constants[name_c]["value"], where)
        return
    if "other" in cond:
        other = cond["other"]
        if other not in FACTS or FACTS[other].type != spec.type or op == "in":
            raise RuleError(
                f"{where}: other {other!r} 须为同类型事实 / must be a fact of the same type"
            )
        return
    if op == "in":
        if not isinstance(cond["value"], list) or not cond["value"]:
            raise RuleError(f"{where}: in 须为非空列表 / in needs a non-empty list")
        for v in cond["value"]:
            _check_value(name, v, where)
    else:
        _check_value(name, cond["value"], where)


def _order(name: str, value: Any) -> Any:
    spec = FACTS[name]
    return spec.choices.index(value) if spec.type == "enum" else value


def _compare(name: str, op: str, left: Any, right: Any) -> bool:
    if op == "in":
        return left in right
    a, b = _order(name, left), _order(name, right)
    return {
        "==": a == b,
        "!=": a != b,
        ">=": a >= b,
        ">": a > b,
        "<=": a <= b,
        "<": a < b,
    }[op]


def evaluate(cond: dict, facts: dict[str, Any], constants: dict | None = None) -> dict:
    """The verdict tree of ``cond`` on ``facts``: ``{"status", "zh", ...}`` per node."""
    for key in ("all", "any"):
        if key in cond:
            parts = [evaluate(p, facts, constants) for p in cond[key]]
            statuses = {p["status"] for p in parts}
            if key == "all":
                status = UNMET if UNMET in statuses else MISSING if MISSING in statuses else MET
            else:
                status = MET if MET in statuses else MISSING if MISSING in statuses else UNMET
            node = {"status": status, key: parts}
            if cond.get("zh"):
                node["zh"] = cond["zh"]
            return node
    name, op = cond["fact"], cond["op"]
    leaf: dict[str, Any] = {"zh": cond["zh"], "fact": name, "op": op}
    if "const" in cond:
        constant = (constants or {})[cond["const"]]
        right = constant["value"]
        leaf["expected"] = right
        leaf["constant"] = constant_shown(cond["const"], constant)
    elif "other" in cond:
        leaf["other"] = cond["other"]
        right = facts.get(cond["other"])
        leaf["other_value"] = right
    else:
        right = cond["value"]
        leaf["expected"] = right
    left = facts.get(name)
    leaf["value"] = left
    if left is None or right is None:
        leaf["status"] = MISSING
    else:
        leaf["status"] = MET if _compare(name, op, left, right) else UNMET
    return leaf


def constant_shown(name: str, constant: dict) -> dict:
    """A policy constant as an answer shows it: its value, and whether the document sets it
    (``source``, the clause) or popbase chose it (``placeholder``)."""
    shown = {"name": name, "value": constant["value"], "zh": constant["zh"]}
    if constant.get("placeholder"):
        shown.update(placeholder=True, by="popbase", label="popbase 占位取值，非文件规定")
    else:
        shown.update(source=constant["source"], by="document")
    if constant.get("note"):
        shown["note"] = constant["note"]
    return shown


def constants_validate(constants: Any) -> dict:
    """Each constant has a value, a label, and either its clause or ``placeholder: true``."""
    if not isinstance(constants, dict):
        raise RuleError("constants: 须为对象 / must be an object")
    for name, c in constants.items():
        where = f"constants.{name}"
        if not isinstance(c, dict) or "value" not in c or not c.get("zh"):
            raise RuleError(f"{where}: 须有 value 与 zh / needs value and zh")
        if bool(c.get("placeholder")) == bool(c.get("source")):
            raise RuleError(
                f"{where}: 须注明条款 source 或 placeholder: true 之一 / "
                "needs exactly one of source (clause) or placeholder: true"
            )
    return constants


def leaves(node: dict) -> list[dict]:
    """Every leaf verdict of a tree, in order."""
    for key in ("all", "any"):
        if key in node:
            return [leaf for part in node[key] for leaf in leaves(part)]
    return [node]


def _describe(node: dict) -> dict:
    """A condition as an answer shows it: a leaf's label and fact, an any-group as one list of
    alternatives, an all-group as its parts."""
    if "any" in node:
        return {"any_of": [_describe(p) for p in node["any"]], "zh": node.get("zh", "以下之一")}
    if "all" in node:
        return {"all_of": [_describe(p) for p in node["all"]], "zh": node.get("zh", "以下全部")}
    item = {"zh": node["zh"], "fact": node["fact"], "value": node["value"]}
    if "other" in node:
        item["other"], item["other_value"] = node["other"], node["other_value"]
    else:
        item["expected"] = node["expected"]
    return item


def failing(node: dict) -> list[dict]:
    """What keeps an unmet verdict unmet: the unmet leaves of every all-group on the way down;
    an unmet any-group is one entry listing its alternatives (any one of them would do)."""
    if node["status"] != UNMET:
        return []
    if "all" in node:
        return [item for part in node["all"] for item in failing(part)]
    return [_describe(node)]


def needed(node: dict) -> list[str]:
    """The unknown facts that could still change an undecided verdict, in rule order, once
    each. A decided node (met or unmet) needs nothing: more facts never change it."""
    if node["status"] != MISSING:
        return []
    names: list[str] = []
    for key in ("all", "any"):
        for part in node.get(key, ()):
            names += needed(part)
    if "fact" in node:
        if node["value"] is None:
            names.append(node["fact"])
        if "other" in node and node["other_value"] is None:
            names.append(node["other"])
    return list(dict.fromkeys(names))


def label(item: dict) -> str:
    """One line for a failing entry: a leaf's label, or 「A」或「B」 for alternatives."""
    if "any_of" in item:
        return "以下之一：" + " 或 ".join(f"「{label(p)}」" for p in item["any_of"])
    if "all_of" in item:
        return " 且 ".join(label(p) for p in item["all_of"])
    return item["zh"]
