"""How each synthetic twin dataset looks: its cameras, lights, rooms and attack instruments.

The real datasets differ in capture hardware (a 320x240 webcam, three cameras of graded
quality, a phone and a laptop, a DSLR and a webcam, a phone and a tablet), in lighting and
in the printers and screens of their attacks; a model trained on three of them meets a new
camera, new light and new instruments on the fourth. The twins copy those differences
(:mod:`data.synth_twins`): every domain has its own camera models (resolution, blur, noise,
colour response, compression), frame sizes, lights, rooms and instruments, and its own people.
Frame sizes are the tiny size; the demo size doubles them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .synth_attacks import Display, Printer
from .synth_render import Lighting, Phone


@dataclass(frozen=True)
class Domain:
    """The look of one dataset's videos."""

    cameras: dict[str, Phone]  # capture device -> camera model
    sizes: dict[str, tuple[int, int]]  # capture device -> frame width, height (tiny)
    lights: dict[str, Lighting]  # lighting condition (as the names spell it) -> light
    rooms: dict[str, int]  # lighting condition -> room (backdrop) number
    printers: dict[str, Printer]
    displays: dict[str, Display]
    subject_offset: int  # identities of this domain: subject + offset (OULU-NPU uses 1-55)
    fps: float = 25.0


def _light(name: str, ambient: float, diffuse: float, direction: tuple[float, float, float],
           colour: tuple[float, float, float], exposure: float, wall: tuple[float, float, float]) -> Lighting:
    return Lighting(name, ambient, diffuse, direction, colour, exposure, wall)


REPLAY_ATTACK = Domain(
    cameras={"webcam": Phone("MacBook webcam, 320x240", 0.7, 0.9, 0.03, (1.08, 1.0, 0.86), 0.9, 1.1, 70)},
    sizes={"webcam": (160, 120)},
    lights={"controlled": _light("controlled: office lights, plain wall", 0.65, 0.4, (0.0, -0.4, -1.0),
                                 (1.0, 1.0, 0.98), 1.0, (0.86, 0.86, 0.83)),
            "adverse": _light("adverse: daylight from a window", 0.3, 0.85, (-0.85, -0.2, -0.5),
                              (0.95, 0.98, 1.08), 0.85, (0.55, 0.5, 0.45))},
    rooms={"controlled": 101, "adverse": 102},
    printers={"print": Printer("colour laser print on A4", (1.02, 0.97, 0.88), 1.5, (15.0, 75.0, 45.0), 0.1, 0.08,
                               0.3)},
    displays={"mobile": Display("iPhone 3GS screen", 1.2, 1.1, 0.05, (0.95, 0.98, 1.06), 1.0, 0.2),
              "highdef": Display("iPad screen", 0.85, 1.0, 0.05, (1.03, 1.0, 0.95), 1.3, 0.15)},
    subject_offset=1000,
)

CASIA_FASD = Domain(
    cameras={"low": Phone("old USB webcam, 640x480", 0.5, 1.1, 0.04, (0.95, 1.02, 1.08), 0.85, 1.05, 60),
             "normal": Phone("new USB webcam, 640x480", 0.85, 0.7, 0.02, (1.0, 1.0, 1.0), 1.0, 1.0, 80),
             "high": Phone("Sony NEX-5, 1280x720", 1.0, 0.4, 0.008, (1.02, 1.0, 0.97), 1.1, 0.95, 92)},
    sizes={"low": (160, 120), "normal": (160, 120), "high": (224, 126)},
    lights={"indoor": _light("indoor, soft frontal light", 0.55, 0.5, (0.2, -0.3, -1.0), (1.0, 0.97, 0.92), 0.95,
                             (0.7, 0.72, 0.75))},
    rooms={"indoor": 201},
    printers={"warped_photo": Printer("copper-paper photo, warped", (1.04, 0.98, 0.9), 1.9, (15.0, 75.0, 0.0), 0.07,
                                      0.07, 0.2),
              "cut_photo": Printer("copper-paper photo, eyes cut", (1.04, 0.98, 0.9), 1.9, (15.0, 75.0, 0.0), 0.09,
                                   0.09, 0.25)},
    displays={"video": Display("iPad, 1280x720 video", 0.9, 1.05, 0.04, (1.0, 1.0, 0.96), 1.25, 0.14)},
    subject_offset=2000,
)

MSU_MFSD = Domain(
    cameras={"android": Phone("Google Nexus 5 front camera, 720x480", 0.9, 0.6, 0.018, (1.04, 1.0, 0.93), 1.12,
                              0.95, 85),
             "laptop": Phone("MacBook Air 13 webcam, 640x480", 0.7, 0.9, 0.028, (0.96, 1.0, 1.06), 0.92, 1.06, 75)},
    sizes={"android": (180, 120), "laptop": (160, 120)},
    lights={"lab": _light("lab, overhead fluorescent tubes", 0.5, 0.55, (0.05, -0.8, -0.6), (0.96, 1.0, 1.02), 1.0,
                          (0.78, 0.78, 0.74))},
    rooms={"lab": 301},
    printers={"printed_photo": Printer("HP colour laser, A3 photo", (0.96, 0.97, 1.03), 1.6, (45.0, 15.0, 75.0), 0.1,
                                       0.06, 0.3)},
    displays={"ipad_video": Display("iPad Air screen", 0.8, 1.05, 0.04, (1.0, 0.99, 0.95), 1.35, 0.16),
              "iphone_video": Display("iPhone 5S screen", 1.25, 1.08, 0.05, (0.94, 0.98, 1.07), 1.05, 0.2)},
    subject_offset=3000,
    fps=30.0,
)

SIW = Domain(
    cameras={"1": Phone("Canon EOS T6, 1920x1080", 1.0, 0.35, 0.006, (1.0, 0.99, 0.98), 1.05, 1.0, 94),
             "2": Phone("Logitech C920, 1920x1080", 0.85, 0.6, 0.015, (1.03, 1.0, 0.95), 1.0, 1.02, 85)},
    sizes={"1": (192, 108), "2": (192, 108)},
    lights={"1": _light("session 1: studio, even light", 0.62, 0.42, (0.1, -0.35, -1.0), (1.0, 1.0, 1.0), 1.0,
                        (0.8, 0.8, 0.8)),
            "2": _light("session 2: strong side light", 0.32, 0.85, (0.85, -0.3, -0.45), (1.06, 0.98, 0.9), 0.9,
                        (0.6, 0.58, 0.55))},
    rooms={"1": 401, "2": 402},
    printers={"1": Printer("high-resolution print", (1.0, 0.98, 0.95), 1.2, (15.0, 75.0, 45.0), 0.05, 0.05, 0.15),
              "2": Printer("low-resolution print", (1.05, 0.96, 0.85), 2.6, (45.0, 15.0, 75.0), 0.13, 0.1, 0.4)},
    displays={"1": Display("iPad Pro screen", 0.9, 1.0, 0.03, (1.0, 1.0, 0.97), 1.4, 0.14),
              "2": Display("iPhone 7 screen", 1.15, 1.05, 0.04, (0.96, 0.99, 1.05), 1.1, 0.18),
              "3": Display("Galaxy S8 screen", 1.3, 1.12, 0.03, (1.0, 0.95, 1.05), 1.0, 0.2),
              "4": Display("Asus MB168B monitor", 0.8, 0.95, 0.07, (1.04, 1.0, 0.92), 1.6, 0.1)},
    subject_offset=4000,
    fps=30.0,
)

REPLAY_MOBILE = Domain(
    cameras={"mobile": Phone("LG G4 front camera, portrait", 0.95, 0.5, 0.014, (1.05, 1.0, 0.95), 1.1, 0.97, 88),
             "tablet": Phone("iPad Mini 2 front camera, portrait", 0.85, 0.7, 0.02, (0.98, 1.0, 1.04), 1.0, 1.03,
                             82)},
    sizes={"mobile": (108, 192), "tablet": (120, 160)},
    lights={"controlled": _light("controlled", 0.65, 0.4, (0.0, -0.4, -1.0), (1.0, 1.0, 0.98), 1.0, (0.85, 0.85, 0.8)),
            "adverse": _light("adverse", 0.3, 0.8, (-0.8, -0.3, -0.5), (0.95, 0.98, 1.08), 0.85, (0.5, 0.5, 0.48)),
            "direct": _light("direct sunlight", 0.25, 1.0, (0.3, -0.6, -0.7), (1.1, 1.02, 0.9), 1.05,
                             (0.75, 0.7, 0.6)),
            "lateral": _light("lateral light", 0.3, 0.9, (0.95, -0.1, -0.3), (1.0, 0.98, 0.95), 0.9, (0.6, 0.6, 0.6)),
            "diffuse": _light("diffuse light", 0.75, 0.25, (0.0, -0.2, -1.0), (0.98, 1.0, 1.02), 0.95,
                              (0.82, 0.84, 0.86)),
            "lighton": _light("attack, room light on", 0.6, 0.45, (0.1, -0.6, -0.8), (1.0, 0.98, 0.94), 1.0,
                              (0.8, 0.78, 0.72)),
            "lightoff": _light("attack, room light off", 0.3, 0.6, (-0.5, -0.3, -0.8), (0.92, 0.96, 1.06), 0.8,
                               (0.45, 0.47, 0.5))},
    rooms={"controlled": 501, "adverse": 502, "direct": 503, "lateral": 504, "diffuse": 505, "lighton": 511,
           "lightoff": 512},
    printers={"print": Printer("matte paper print", (1.0, 0.97, 0.92), 1.7, (15.0, 45.0, 75.0), 0.09, 0.08, 0.3)},
    displays={"mattescreen": Display("Philips 227ELH matte screen", 0.85, 0.95, 0.06, (1.02, 1.0, 0.96), 1.7, 0.05)},
    subject_offset=5000,
    fps=30.0,
)

DOMAINS: dict[str, Domain] = {"replay_attack": REPLAY_ATTACK, "casia_fasd": CASIA_FASD, "msu_mfsd": MSU_MFSD,
                              "siw": SIW, "replay_mobile": REPLAY_MOBILE}
