"""Admin actions from the command line (``optibot level|waitlist|report|candidates``): the same
services, rules and access journal as the console. Each module names its ``COMMAND``, adds its
parser (``add``) and runs it (``run``); bot/cli.py lists them in ``ADMIN_COMMANDS``."""
