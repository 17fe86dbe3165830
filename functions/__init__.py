"""One module per Cloud Function: plain `handle(...)` logic over the adapters.

main.py holds the functions-framework entry points that decode a request or
CloudEvent and call these. Nothing here imports a Google client or torch.
"""
