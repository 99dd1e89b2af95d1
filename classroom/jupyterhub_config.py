"""JupyterHub for the course: the test classroom that `course hub` starts on loopback, and the
starting point for a real hub. On a real hub, change the settings marked CHANGE.

`course hub` (and the tests) set COURSE_CLASSROOM (the classroom's base folder, holding the homes,
nbgrader's exchange and the hub's state) and COURSE_HUB_PORT before starting
`jupyterhub -f classroom/jupyterhub_config.py` as root, after Classroom.setup() has built the
student environment and closed the repository to the students.
"""
import os
from pathlib import Path

from dlcourse_grading.classroom import INSTRUCTOR, STUDENTS, Classroom

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

# CHANGE: on a real hub, SystemdSpawner, DockerSpawner or KubeSpawner with a memory limit. Each
# user's server runs as their own Unix account. A student's runs from the student environment (the
# requirements and the `dlcourse` package, nothing of the instructor's: dlcourse_grading/student_env.py;
# on a real hub, the student image); only the instructor's runs from this checkout's .venv, which
# holds the grading package and the hidden checks. The default is a student's; the hook below gives
# each account its own (with KubeSpawner or DockerSpawner: the student image by default, the
# instructor's image set in the same hook).
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = room.server_command(STUDENTS[0])
c.Spawner.environment = room.server_environment(STUDENTS[0])


def per_account(spawner):
    """The instructor's server from the instructor's venv (with classroom/server/ on
    JUPYTER_CONFIG_PATH: Formgrader inside JupyterLab); every other account's from the student env."""
    spawner.cmd = room.server_command(spawner.user.name)
    spawner.environment = room.server_environment(spawner.user.name)


c.Spawner.pre_spawn_hook = per_account
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

# The course's nbgrader settings are per account, written by Classroom.setup(): the instructor's
# ~/.jupyter/nbgrader_config.py loads this repository's grading_config.py and names the course
# folder; each student's names the course id; all of them name the same exchange (mode 1777):
#     c.Exchange.root = "/srv/nbgrader/exchange"
# nbgrader's server and JupyterLab extensions (Assignments, Formgrader, Validate) come with the
# nbgrader package in each environment and are enabled there (the student env copies the enabling
# files of the instructor's venv's etc/jupyter/).

# For the test suite only: a service that may create tokens for the class and start servers.
if os.environ.get("COURSE_HUB_SERVICE_TOKEN"):
    c.JupyterHub.services = [{"name": "course-tests", "api_token": os.environ["COURSE_HUB_SERVICE_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "course-tests", "services": ["course-tests"],
                                "scopes": ["admin:users", "admin:servers", "tokens", "list:users"]}]
