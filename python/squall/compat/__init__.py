"""APIs of other tools on squall, for code written for them: :mod:`squall.compat.lithops`."""
