# This file is part of the utility billing project; see the README.
