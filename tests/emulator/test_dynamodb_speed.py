"""The emulator's DynamoDB writes re-derive nothing that does not change (dynamodb_speed.py), and answer as before:
real boto3 against the emulator over HTTP."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.parsing.tokens import ExpressionTokenizer

from portico_cli.local_aws import account as local

S = {"S": "a"}


@pytest.fixture
def ddb(aws):
    client = local.session(aws).client("dynamodb", endpoint_url=aws)
    for name, key in (("t", "pk"), ("u", "x")):
        client.create_table(TableName=name, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
    return client


def error(call, **request) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**request)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def status_write(ddb, n: int, generation: int) -> dict:
    """An UpdateItem shaped like portico's status write: SETs, a REMOVE, conditions on other attributes."""
    return ddb.update_item(
        TableName="t", Key={"pk": S}, ReturnValues="ALL_NEW",
        UpdateExpression="SET #s = :s, #m = :m, #g = :g REMOVE #r",
        ConditionExpression="(attribute_not_exists(#g) OR #g <= :g) AND attribute_not_exists(#c)",
        ExpressionAttributeNames={"#s": "status", "#m": "message", "#g": "generation", "#r": "gone", "#c": "spec"},
        ExpressionAttributeValues={":s": {"S": f"s{n}"}, ":m": {"S": f"m{n}"}, ":g": {"N": str(generation)}})


def test_a_repeated_expression_is_tokenized_once(ddb, monkeypatch):
    status_write(ddb, 0, 1)  # the expressions seen once (another test may have kept them already)
    tokenized, lexed = [], []
    tokenize, lex = ExpressionTokenizer.make_list, ConditionExpressionParser._lex_one_node
    monkeypatch.setattr(ExpressionTokenizer, "make_list", staticmethod(lambda e: tokenized.append(e) or tokenize(e)))
    monkeypatch.setattr(ConditionExpressionParser, "_lex_one_node", lambda p, e: lexed.append(e) or lex(p, e))
    parsed, parse = [], ConditionExpressionParser._parse_paths
    monkeypatch.setattr(ConditionExpressionParser, "_parse_paths", lambda p, nodes: parsed.append(1) or parse(p, nodes))
    for n in range(5):
        status_write(ddb, n, 2 + n)
    assert tokenized == lexed == []  # moto: twice each per call
    assert parsed == []  # the condition's structure is kept per text and names, then given each call's values


def test_the_same_expression_with_other_values_writes_those_values(ddb):
    first, second = status_write(ddb, 1, 10)["Attributes"], status_write(ddb, 2, 11)["Attributes"]
    assert (first["status"], first["message"], first["generation"]) == ({"S": "s1"}, {"S": "m1"}, {"N": "10"})
    assert (second["status"], second["message"], second["generation"]) == ({"S": "s2"}, {"S": "m2"}, {"N": "11"})
    assert error(status_write, ddb=ddb, n=3, generation=5) == ("ConditionalCheckFailedException",
                                                                "The conditional request failed")
    assert ddb.get_item(TableName="t", Key={"pk": S})["Item"]["status"] == {"S": "s2"}


def test_set_remove_add_and_delete_in_one_update(ddb):
    ddb.put_item(TableName="t", Item={"pk": S, "n": {"N": "1"}, "gone": {"S": "x"}, "tags": {"SS": ["a", "b"]}})
    for n in (1, 2):
        got = ddb.update_item(
            TableName="t", Key={"pk": S}, ReturnValues="UPDATED_NEW",
            UpdateExpression="SET n = n + :one, l = list_append(if_not_exists(l, :empty), :l) REMOVE gone "
                             "ADD c :one DELETE tags :a",
            ExpressionAttributeValues={":one": {"N": "1"}, ":empty": {"L": []}, ":l": {"L": [{"N": str(n)}]},
                                       ":a": {"SS": ["a"]}})
        assert got["Attributes"] == {"n": {"N": str(1 + n)}, "l": {"L": [{"N": str(i)} for i in range(1, n + 1)]},
                                     "c": {"N": str(n)}, **({"tags": {"SS": ["b"]}} if n == 1 else {})}
    assert "gone" not in ddb.get_item(TableName="t", Key={"pk": S})["Item"]


def test_a_failed_condition_returns_the_old_item_when_asked(ddb):
    ddb.put_item(TableName="t", Item={"pk": S, "owner": {"S": "b"}})
    for owner in ("c", "d"):
        with pytest.raises(ClientError) as raised:
            ddb.update_item(TableName="t", Key={"pk": S}, UpdateExpression="SET #o = :o",
                            ConditionExpression="attribute_not_exists(pk) OR #o = :o",
                            ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":o": {"S": owner}},
                            ReturnValuesOnConditionCheckFailure="ALL_OLD")
        assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
        assert raised.value.response["Item"] == {"pk": S, "owner": {"S": "b"}}


def test_an_invalid_expression_is_refused_every_time(ddb):
    for _ in range(2):
        assert error(ddb.update_item, TableName="t", Key={"pk": S}, UpdateExpression="SET a = = :v",
                     ExpressionAttributeValues={":v": {"N": "1"}}) == (
            "ValidationException", 'Invalid UpdateExpression: Syntax error; token: "=", near: "= = :v"')


def test_the_checks_that_depend_on_names_and_keys_see_each_calls(ddb):
    """One expression, names that overlap or name a key attribute in one call and not in the next."""
    request = {"Key": {"pk": S}, "UpdateExpression": "SET #a = :v, #b = :v", "ExpressionAttributeValues": {
        ":v": {"S": "1"}}}
    ddb.update_item(TableName="t", ExpressionAttributeNames={"#a": "x", "#b": "y"}, **request)
    code, message = error(ddb.update_item, TableName="t", ExpressionAttributeNames={"#a": "x", "#b": "x"}, **request)
    assert (code, message.split(":")[0]) == ("ValidationException", "1 validation error detected")
    assert "Two document paths overlap with each other" in message
    assert error(ddb.update_item, TableName="u", ExpressionAttributeNames={"#a": "x", "#b": "y"},
                 **{**request, "Key": {"x": S}}) == (
        "ValidationException", "One or more parameter values were invalid: Cannot update attribute x. "
                               "This attribute is part of the key")


def test_a_transaction_is_checked_and_written_as_before(ddb):
    def reserve(owner: str) -> list[dict]:
        return [{"Put": {"TableName": "t", "Item": {"pk": {"S": f"port{i}"}, "owner": {"S": owner}},
                         "ConditionExpression": "attribute_not_exists(pk) OR #o = :o",
                         "ExpressionAttributeNames": {"#o": "owner"}, "ExpressionAttributeValues": {":o": {"S": owner}},
                         "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}} for i in range(3)] + [
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "ledger"}}, "UpdateExpression": "SET #o = :o ADD n :one",
                        "ExpressionAttributeNames": {"#o": "owner"},
                        "ExpressionAttributeValues": {":o": {"S": owner}, ":one": {"N": "1"}}}}]

    ddb.transact_write_items(TransactItems=reserve("a"))
    ddb.transact_write_items(TransactItems=reserve("a"))
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=reserve("b"))
    reasons = raised.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed"] * 3 + ["None"]
    assert reasons[0]["Item"] == {"pk": {"S": "port0"}, "owner": {"S": "a"}}
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "ledger"}})["Item"] == {
        "pk": {"S": "ledger"}, "owner": {"S": "a"}, "n": {"N": "2"}}


def test_the_parsed_expression_kept_is_not_changed_by_the_updates_that_use_it(ddb):
    def shape(node):
        return (type(node).__name__, [shape(c) if hasattr(c, "children") else c for c in node.children or []])

    expression = "SET a = :v, b = if_not_exists(b, :w) REMOVE c"
    tree = UpdateExpressionParser.make(expression)
    before = shape(tree)
    for n in range(2):
        ddb.update_item(TableName="t", Key={"pk": S}, UpdateExpression=expression,
                        ExpressionAttributeValues={":v": {"N": str(n)}, ":w": {"N": "7"}})
    assert UpdateExpressionParser.make(expression) is tree  # kept: moto parses it anew on every call
    assert shape(tree) == before
    assert ddb.get_item(TableName="t", Key={"pk": S})["Item"] == {"pk": S, "a": {"N": "1"}, "b": {"N": "7"}}
