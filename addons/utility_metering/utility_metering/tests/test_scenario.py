import io
import unittest

from trytond.tests.test_tryton import load_doc_tests


def load_tests(*args, **kwargs):
    return load_doc_tests(__name__, __file__, *args, **kwargs)


def test_scenarios():
    "Run the scenarios under pytest, which ignores load_tests"
    suite = load_tests(unittest.TestLoader(), unittest.TestSuite(), None)
    assert suite.countTestCases(), "no scenario found"
    output = io.StringIO()
    result = unittest.TextTestRunner(stream=output, verbosity=2).run(suite)
    assert result.wasSuccessful(), output.getvalue()
