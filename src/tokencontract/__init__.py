"""What the notebook client, the hub's broker and the APIs agree on, in the standard library only.

The broker's error codes and their HTTP statuses (:mod:`tokencontract.errors`), how much of a
caller's input a message may quote (``echo``), the one scope normalisation
(:mod:`tokencontract.scopes`), the one "is this token still usable" rule
(:mod:`tokencontract.expiry`), the one unverified read of a JWT's claims
(:mod:`tokencontract.claims`) and the token-file name rule (:mod:`tokencontract.files`).

It imports nothing but the standard library, so that the client (``hubtokens``), the broker
(``hubbroker``), the fruit API and ``apiregistry`` can all use it without pulling in httpx,
PyJWT or JupyterHub.
"""
