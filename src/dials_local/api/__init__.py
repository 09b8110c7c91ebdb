"""The HTTP API of dials-local, one module per resource group.

``resources`` declares the data resources, ``endpoint`` what one URL of the API is,
``routes`` builds the route table (every :class:`~dials_local.api.endpoint.Endpoint`)
from the declarations, ``dispatch`` serves an endpoint (authentication, method, workspace,
errors), ``generic`` holds the handlers every data resource shares; the other modules are
the endpoints with behaviour of their own (cert/golden JSON, OMS, workspaces, sign-in, the
API root).
"""
