"""Less of moto's Python CPU per DynamoDB write: the same answers and errors, without re-deriving what does not change.

Every DynamoDB request runs under dynamodb.LOCK, so moto's CPU per call is serial time that AWS does not have.
moto, for one UpdateItem (moto 5.2):
- tokenizes and parses its UpdateExpression twice (the handler, then the backend), and deep-copies the parsed
  tree (`copy.deepcopy`, which walks every node generically) before its Validator rewrites the copy;
- lexes and parses the ConditionExpression twice (three times for a transaction item: the emulator checks it
  too), with one regular expression after another per token;
- runs ten tree walks (DepthFirstTraverser) in which every node re-builds the walker's map of node classes to
  handlers and asks `isinstance` of moto's abstract node classes (a Python-level ABC check) again and again.

Here, with the same results:
- a parsed UpdateExpression is kept per expression text (expressions repeat: portico writes a few shapes with
  changing values). Nothing mutates a parsed tree: the handler and the transaction only read it
  (`find_clauses`), and the backend gives it to the Validator, which mutates its own copy. A text that does not
  parse is not kept: its error is raised again every time;
- that copy is made node by node (a new node of the same class, its attributes, its children, its parent the
  new parent), which is what deepcopy makes of such a tree; it is used only for trees kept here, checked once
  when kept to hold nothing else (leaves of str, int, bool or None; each node's parent its tree parent;
  no node twice): anything else goes to deepcopy as before;
- a ConditionExpression's tokens (kind and text, what the lexer derives from the text alone) are kept per text,
  and the lexer's nodes are made again from them on every call: attribute names and values are looked up
  afterwards, per call, as before;
- a condition's parsed tree (moto's nodes, just before it makes its Op tree of them) is kept per text and
  names: the steps after the lexer read only the text, the names and which values are named, never the
  values themselves, which moto writes into the value nodes as it meets them. A later call with the same text
  and names gets a fresh copy of that tree with its own values written in the same way, then moto's Op tree
  of it; a value the call lacks sends it through moto's parse, which fails as before;
- within one request moto parses the condition again from the very same name and value dicts (the handler,
  then the backend; nothing between them changes those dicts): the second parse returns the first's result
  (an Op tree that evaluating does not change) and the names and values it found, when both dicts are the
  same objects. The dicts are held with the result, so their ids cannot be reused by another request's;
- each walk reads the walker's map once per walk instead of once per node, and asks `isinstance` once per node
  class. moto's walkers return a fixed map; a walker class that overrides how nodes are visited or processed
  keeps moto's walk;
- the Validator's first three walks (at most one SET/REMOVE/ADD clause each, no overlapping paths, no key
  attribute updated) only read the tree, the names and the table's key attributes, and return each node as it
  is: once they have passed for an expression text, those names and those key attributes, they are not walked
  again for the same three. When they raise, nothing is kept: the next call raises the same error.

Measured with `python -m scripts.ddb_cpu` (median of 3 runs, 7 Dec 2026, load average 3.0 to 3.8 on 2 cores):
a status write (portico's `Registry.write_status` UpdateItem) takes 8.64 ms in the emulator before, 2.62 ms
after (its thread's CPU 8.25 to 2.52 ms; the client's 13.09 to 6.15 ms); a TransactWriteItems of 100
reservation items 214.7 ms before, 47.3 ms after (CPU 180.1 to 46.0 ms; client 238.9 to 63.7 ms), the latter
also by dynamodb.py no longer checking each item's condition a third time.
"""

from __future__ import annotations

import copy
from collections import deque

from . import replace, wrap

KEPT = 1024  # distinct expression texts kept (then forgotten all at once); portico writes a few dozen shapes
_ATOMS = (str, int, float, bool, type(None))
_UNSEEN = object()


class _Kept(dict):
    """At most KEPT entries: a key past that starts the table afresh."""

    def keep(self, key, value):
        if len(self) >= KEPT:
            self.clear()
        self[key] = value
        return value


_trees, _plain_trees, _tokens, _checked, _parsed, _node_classes = _Kept(), _Kept(), _Kept(), _Kept(), _Kept(), {}
_templates = _Kept()
CHECKS = ("ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator")  # moto's first walks


def _kept_parse(make):
    def parse(expression):
        if not isinstance(expression, str):
            return make(expression)
        tree = _trees.get(expression)
        if tree is None:  # an error is raised, not kept: raised again next time
            tree = _trees.keep(expression, make(expression))
            if _plain(tree, None, set()):
                _plain_trees.keep(id(tree), (tree, expression))
        return tree

    return staticmethod(parse)


def _is_node(kind: type) -> bool:
    from moto.dynamodb.parsing.ast_nodes import Node

    known = _node_classes.get(kind)
    if known is None:
        known = _node_classes[kind] = issubclass(kind, Node)
    return known


def _plain(node, parent, seen: set[int]) -> bool:
    """The tree holds only nodes and atoms, each node once, under its own parent."""
    if not _is_node(type(node)) or id(node) in seen or node.parent is not parent:
        return False
    seen.add(id(node))
    if any(not isinstance(v, _ATOMS) for k, v in vars(node).items() if k not in ("children", "parent")):
        return False
    return node.children is None or type(node.children) is list and all(
        _plain(c, node, seen) if _is_node(type(c)) else isinstance(c, _ATOMS) for c in node.children)


def _copy(node, parent):
    new = object.__new__(type(node))
    state = dict(vars(node), parent=parent)
    if node.children is not None:
        state["children"] = [_copy(c, new) if _is_node(type(c)) else c for c in node.children]
    new.__dict__.update(state)
    return new


def _deepcopy(value, memo=None):
    """validators.py's `deepcopy`: node by node for a kept plain tree, else copy.deepcopy."""
    if memo is None and _plain_trees.get(id(value), (None,))[0] is value:
        return _copy(value, None)
    return copy.deepcopy(value, memo)


def _kept_lex(lex):
    def lex_condition_expression(self) -> deque:
        text = self.condition_expression
        if not isinstance(text, str):
            return lex(self)
        key = (type(self), text)
        tokens = _tokens.get(key)
        if tokens is None:
            nodes = lex(self)
            if not all(n.kind == self.Kind.LITERAL and n.value == n.text and n.children == [] for n in nodes):
                return nodes  # not what moto 5.2's lexer makes: not kept
            tokens = _tokens.keep(key, tuple((n.nonterminal, n.text) for n in nodes))
        return deque(self.Node(nonterminal=nonterminal, kind=self.Kind.LITERAL, text=token, value=token, children=[])
                     for nonterminal, token in tokens)

    return lex_condition_expression


def _parsed_once(parse):
    def parse_once(self):
        text, names = self.condition_expression, self.expression_attribute_names
        values = self.expression_attribute_values
        if not text or not isinstance(text, str):
            return parse(self)
        key = (type(self), text, id(names), id(values))
        kept = _parsed.get(key)
        if kept is not None and kept[0] is names and kept[1] is values:
            self.expr_attr_names_found.extend(kept[3])
            self.expr_attr_values_found.extend(kept[4])
            return kept[2]
        found = len(self.expr_attr_names_found), len(self.expr_attr_values_found)
        op = parse(self)
        _parsed.keep(key, (names, values, op, self.expr_attr_names_found[found[0]:],
                           self.expr_attr_values_found[found[1]:]))
        return op

    return parse_once


def _templated(parse):
    def parse_from_template(self):
        text, names = self.condition_expression, self.expression_attribute_names
        key = (type(self), text, tuple(sorted(names.items())) if isinstance(names, dict) else names)
        try:
            template = _templates.get(key) if text and isinstance(text, str) else None
        except TypeError:  # a name that is no string
            return parse(self)
        if template is not None:
            try:
                node = _bind(template[0], self.expression_attribute_values, self.Kind.EXPRESSION_ATTRIBUTE_VALUE)
            except (KeyError, TypeError):  # a value this request lacks: moto's parse says how it fails
                return parse(self)
            self.expr_attr_names_found.extend(template[1])
            self.expr_attr_values_found.extend(template[2])
            return self._make_op_condition(node)
        return _parse_keeping(self, parse, key)

    return parse_from_template


def _parse_keeping(self, parse, key):
    """moto's parse; the tree it hands to `_make_op_condition` kept as the template of its text and names."""
    trees, make = [], self._make_op_condition

    def make_op_condition(node):  # called for the whole tree first, then (recursively) for its parts
        if not trees:
            trees.append(node)
        return make(node)

    self._make_op_condition = make_op_condition
    found = len(self.expr_attr_names_found), len(self.expr_attr_values_found)
    try:
        op = parse(self)
    finally:
        del self._make_op_condition
    if trees and isinstance(self.condition_expression, str) and self.condition_expression:
        _templates.keep(key, (trees[0], self.expr_attr_names_found[found[0]:], self.expr_attr_values_found[found[1]:]))
    return op


def _bind(node, values, value_kind: str):
    """A fresh copy of a parsed condition's tree with this request's values, looked up as moto's parser does."""
    if node.kind == value_kind:
        return node._replace(value=values[node.text], children=[])
    return node._replace(children=[_bind(child, values, value_kind) for child in node.children])


def _one_map_per_walk(traverse):
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser as Walker

    def walk(self, node):
        kind = type(self)
        if any(getattr(kind, m) is not getattr(Walker, m)
               for m in ("traverse_node_recursively", "process", "nodes_to_be_processed")):
            return traverse(self, node)
        pre = None if kind.pre_processing_of_child is Walker.pre_processing_of_child else self.pre_processing_of_child
        if not _is_node(type(node)):
            return node
        return _visit(node, -1, tuple(self._processing_map().items()), {}, pre)

    return walk


def _visit(node, child_id: int, handlers: tuple, found: dict, pre):
    """moto's DepthFirstTraverser.traverse_node_recursively (on a node), with the map read once, `isinstance`
    asked once per node class (`found`), and atoms (which it returns as they are) not visited."""
    parent = node.parent
    if node.children is not None:
        for i, child in enumerate(node.children):
            if pre is not None:
                pre(node, i)
            is_node = _node_classes.get(type(child))
            if is_node or is_node is None and _is_node(type(child)):
                _visit(child, i, handlers, found, pre)
    kind = type(node)
    handler = found.get(kind, _UNSEEN)
    if handler is _UNSEEN:
        handler = found[kind] = next((h for c, h in handlers if isinstance(node, c)), None)
    if handler is not None:
        node = handler(node)
        node.parent = parent
        if parent:
            parent.children[child_id] = node
    return node


def _checks_key(init):
    def __init__(self, expression, *args, **kwargs):
        init(self, expression, *args, **kwargs)
        self.portico_checks = _key(self, expression)

    return __init__


def _key(validator, expression) -> tuple | None:
    """What moto's first three walks read (the expression's text, the names, the table's key attributes), for
    a kept tree and a validator that starts with those three walks; else None."""
    from moto.dynamodb.parsing import validators

    tree, text = _plain_trees.get(id(expression), (None, None))
    if tree is not expression or tuple(type(p) for p in validator.processors[:3]) != tuple(
            getattr(validators, name) for name in CHECKS):
        return None
    names = validator.expression_attribute_names
    key = (text, tuple(sorted(names.items())) if isinstance(names, dict) else names,
           tuple(validator.table.table_key_attrs))
    try:
        hash(key)
    except TypeError:  # a name that is no string: not kept
        return None
    return key


def _checked_once(validate):
    def validate_once(self):
        key = getattr(self, "portico_checks", None)
        if key is None:
            return validate(self)
        node, (checks, rest) = self.node_to_validate, (self.processors[:3], self.processors[3:])
        if key not in _checked:
            for processor in checks:
                node = processor.traverse(node)
            _checked.keep(key, True)
        for processor in rest:
            node = processor.traverse(node)
        return node

    return validate_once


def install() -> None:
    from moto.dynamodb import comparisons
    from moto.dynamodb.parsing import ast_nodes, expressions, validators

    wrap(expressions.UpdateExpressionParser, "make", _kept_parse)
    replace(validators, "deepcopy", _deepcopy)
    wrap(comparisons.ConditionExpressionParser, "_lex_condition_expression", _kept_lex)
    wrap(comparisons.ConditionExpressionParser, "parse", _templated)
    wrap(comparisons.ConditionExpressionParser, "parse", _parsed_once)
    wrap(ast_nodes.DepthFirstTraverser, "traverse", _one_map_per_walk)
    wrap(validators.Validator, "__init__", _checks_key)
    wrap(validators.Validator, "validate", _checked_once)
