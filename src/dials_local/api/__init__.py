"""The HTTP API of dials-local, one module per resource group.

``resources`` declares the data resources, ``routes`` builds the route table from the
declarations, ``dispatch`` turns a route into an ASGI endpoint (authentication, method,
workspace, errors), ``generic`` holds the handlers every data resource shares; the other
modules are the routes with behaviour of their own (cert/golden JSON, OMS, workspaces,
the API root).
"""
