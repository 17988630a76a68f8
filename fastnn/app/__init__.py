"""The application: the ``fastnn`` command line, its reports and plots."""
