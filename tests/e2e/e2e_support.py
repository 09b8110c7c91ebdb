"""Constants shared by the browser tests and their fixtures."""

#: The user who signs in on the approval page (created with ``dials-local create-user``).
USER = "erin"
PASSWORD = "e2e password 7"
#: Tokens live 3 s, refresh tokens 20 s; polls every 0.5 s allowed.
FAST = ("--access-ttl", "3", "--refresh-ttl", "20", "--device-interval", "0.5", "--leeway", "0")
