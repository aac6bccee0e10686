"""The machine simulator behind ``werkvloer simulate`` and ``make run``: the
servers and the real-time loop. The simulated machine itself
(``models.training.machine.MachineSim``) lives with the training data
generators, which draw on it too."""
