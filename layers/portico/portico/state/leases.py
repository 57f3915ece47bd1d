"""Leases (`lock#<name>`): short holds on a read-modify-write of something several passes share (an ECS
service's loadBalancers). A lease expires after its ttl, so a crashed holder blocks the others for a minute at
most; functions of the table's items (`Table`), which StateTable's methods of the same names call.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..errors import CANCELLED, error_code
from .records import to_item
from .table import Table


def acquire(t: Table, name: str, holder: str, ttl: float = 60.0) -> bool:
    now = t.clock()
    return t.write_if(t.ddb.put_item,
                      Item=to_item({"pk": f"lock#{name}", "holder": holder, "expiresAt": int(now + ttl)}),
                      ConditionExpression="attribute_not_exists(pk) OR expiresAt < :now OR holder = :h",
                      ExpressionAttributeValues=to_item({":now": int(now), ":h": holder}))

def acquire_many(t: Table, names: list[str], holder: str, ttl: float = 60.0) -> bool:
    """Leases on several names (up to 100) in one transaction: all or none."""
    now = t.clock()
    try:
        t.ddb.transact_write_items(TransactItems=[{"Put": {
            "TableName": t.name,
            "Item": to_item({"pk": f"lock#{n}", "holder": holder, "expiresAt": int(now + ttl)}),
            "ConditionExpression": "attribute_not_exists(pk) OR expiresAt < :now OR holder = :h",
            "ExpressionAttributeValues": to_item({":now": int(now), ":h": holder})}} for n in names])
        return True
    except ClientError as e:
        if error_code(e) == CANCELLED:
            return False
        raise

def release_many(t: Table, names: list[str], holder: str) -> None:
    try:
        t.ddb.transact_write_items(TransactItems=[{"Delete": {
            "TableName": t.name, "Key": to_item({"pk": f"lock#{n}"}), "ConditionExpression": "holder = :h",
            "ExpressionAttributeValues": to_item({":h": holder})}} for n in names])
    except ClientError as e:
        if error_code(e) != CANCELLED:
            raise
        for n in names:  # one of them expired and was taken: release the others one by one
            release_lock(t, n, holder)

def release_lock(t: Table, name: str, holder: str) -> None:
    t.write_if(t.ddb.delete_item, Key=to_item({"pk": f"lock#{name}"}), ConditionExpression="holder = :h",
               ExpressionAttributeValues=to_item({":h": holder}))
