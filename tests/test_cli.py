"""The command as users run it: one line and exit code 2 for a user error, nothing from TensorFlow's start-up."""

from conftest import python_env, run_python


def test_user_error_is_one_line_on_stderr_with_exit_code_2():
    script = (
        "import sys; sys.argv[0] = 'keras-prelu'; "
        "from keras_prelu.commands.main import main; sys.exit(main(['models', 'info', 'no_such_model']))"
    )
    env = python_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL")  # as users run it: the command itself keeps TensorFlow quiet
    result = run_python("-c", script, check=False, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no_such_model" in lines[0]


def test_package_log_lines_show_during_a_command_only(capsys):
    import logging

    from keras_prelu.commands import main as cli

    log = logging.getLogger("keras_prelu")
    before = (list(log.handlers), log.level, log.propagate)
    assert cli.main(["list", "resnet20_*"]) == 0
    assert (list(log.handlers), log.level, log.propagate) == before
    assert "resnet20_prelu" in capsys.readouterr().out
