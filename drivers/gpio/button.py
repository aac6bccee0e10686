"""A physical push button on a GPIO pin (the guard's reset button: pull-up, pressed = low).

The callback runs in gpiozero's thread; it must not block for long (the guard's
reset releases the outputs and returns).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class PushButton:
    def __init__(self, pin: int, on_press: Callable[[], object], *, pin_factory: Any = None) -> None:
        from gpiozero import Button

        kwargs = {"pin_factory": pin_factory} if pin_factory is not None else {}
        # bounce_time None: a second press within the bounce is a second reset, which is harmless.
        self._button = Button(pin, pull_up=True, bounce_time=None, **kwargs)
        self._button.when_pressed = lambda: on_press()
        self.pin = pin

    def close(self) -> None:
        self._button.close()
