"""The CloudFormation custom resources portico serves, behind the crhelper adapter `triggers/provider.py`.

request             one request → the handler of its resource type; errors → FAILED
answer              the response: one body of at most 4 KB, PUT to the pre-signed URL
properties          resource properties (CloudFormation passes strings) → registry attributes and ports
service_route       Custom::ServiceRoute: a registry entry owned by a stack, incl. the replacement saga
listener_port       Custom::ListenerPort: a listener port on portico's NLB reserved for a stack
apigateway_account  Custom::ApiGatewayAccount: the account's API Gateway logging role (portico's stack only)

Importing this package imports nothing else of portico (see `triggers`).
"""
