"""The similarity web service (``siamkit serve``): JSON endpoints and a web page over one model.

``create_app(model, index, settings)`` (in ``app``) returns the FastAPI app; ``settings`` holds
the operator's settings and the request limits, ``schemas`` the JSON answers, ``state`` what the
handlers share (model, gallery, decode threads), ``routes`` the endpoints,
``batching`` the micro-batcher that shares forward passes between concurrent requests,
``uploads`` the size limits and image decoding, ``deadlines`` the time limits for slow clients,
``refusals`` how both answer when their refusal escapes the app,
``static/`` the page.
"""

from siamkit.service.app import ServiceSettings, create_app

__all__ = ["ServiceSettings", "create_app"]
