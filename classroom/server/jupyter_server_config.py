"""Settings for every user's JupyterLab server on the course's hub (on JUPYTER_CONFIG_PATH).

nbgrader's JupyterLab extension shows Formgrader in an iframe of the user's own server;
JupyterHub's single-user server forbids all framing by default (frame-ancestors 'none'),
which leaves that panel blank. Framing by the same server is enough.
"""
c = get_config()  # noqa: F821
c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
