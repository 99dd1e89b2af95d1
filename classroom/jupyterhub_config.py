"""JupyterHub for the course: the test classroom that `course hub` starts on loopback, and the
starting point for a real hub. On a real hub, change the settings marked CHANGE.

`course hub` (and the tests) set COURSE_CLASSROOM (the classroom's base folder, holding the homes,
nbgrader's exchange and the hub's state) and COURSE_HUB_PORT before starting
`jupyterhub -f classroom/jupyterhub_config.py` as root.
"""
import os
from pathlib import Path

from dlcourse_grading.classroom import INSTRUCTOR, STUDENTS, Classroom
from dlcourse_grading.paths import VENV_BIN

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)
room = Classroom(Path(os.environ["COURSE_CLASSROOM"]))
port = int(os.environ.get("COURSE_HUB_PORT", "8000"))

# CHANGE: a real hub listens on a public address behind TLS (c.JupyterHub.ssl_cert / ssl_key, or
# a reverse proxy); the test classroom stays on loopback.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = port + 1
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 2}"
c.ConfigurableHTTPProxy.command = [str(room.proxy_command)]  # from the npm registry, see `course hub`
c.ConfigurableHTTPProxy.pid_file = str(room.hub_state / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{room.hub_state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(room.hub_state / "cookie_secret")
c.JupyterHub.pid_file = str(room.hub_state / "jupyterhub.pid")

# CHANGE: your institution's login (oauthenticator, ltiauthenticator, PAM, ...). A shared password
# is fine for a test class of known accounts and nothing else.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = room.password
c.Authenticator.allowed_users = {INSTRUCTOR, *STUDENTS}

# CHANGE: on a real hub, SystemdSpawner, DockerSpawner or KubeSpawner with the same command and a
# memory limit. Each user's server runs as their own Unix account, with this course's packages.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "PYTHONHASHSEED": "0",
                         # classroom/server/: lets Formgrader show inside JupyterLab
                         "JUPYTER_CONFIG_PATH": str(Path(__file__).resolve().parent / "server")}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

# The course's nbgrader settings are per account, written by Classroom.setup(): the instructor's
# ~/.jupyter/nbgrader_config.py loads this repository's grading_config.py and names the course
# folder; each student's names the course id; all of them name the same exchange (mode 1777):
#     c.Exchange.root = "/srv/nbgrader/exchange"
# nbgrader's server and JupyterLab extensions (Assignments, Formgrader, Validate) come with the
# nbgrader package in the course's environment and are enabled there.

# For the test suite only: a service that may create tokens for the class and start servers.
if os.environ.get("COURSE_HUB_SERVICE_TOKEN"):
    c.JupyterHub.services = [{"name": "course-tests", "api_token": os.environ["COURSE_HUB_SERVICE_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "course-tests", "services": ["course-tests"],
                                "scopes": ["admin:users", "admin:servers", "tokens", "list:users"]}]
