"""Writes the synthetic camera's moving scene (src/media/video/pattern.rs: the scrolling diagonal
gradient and the bouncing square, without the stripe) as a Y4M file, so that Chromium's fake
camera shows the same motion Confer's encoder gets and the CPU comparison encodes alike.

    python3 pattern_y4m.py OUT.y4m [WIDTH HEIGHT FRAMES]
"""
import sys

RAMP_PERIOD = 512


def bounce(pos, span):
    p = pos % (2 * span)
    return p if p < span else 2 * span - p


def main():
    out = sys.argv[1]
    w, h, frames = (int(a) for a in (sys.argv[2:5] or (1280, 720, 128)))
    ramp = bytes(16 + (min(i % RAMP_PERIOD, 511 - i % RAMP_PERIOD) * 219 // 255)
                 for i in range(RAMP_PERIOD + w))
    cw, ch = w // 2, h // 2
    u_plane = bytes(96 + (col * 64) // cw for _ in range(ch) for col in range(cw))
    v_plane = b"".join(bytes([96 + (row * 64) // ch]) * cw for row in range(ch))
    side = (h // 4) & ~1
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for t in range(frames):
            y = bytearray(b"".join(ramp[(row + 4 * t) % RAMP_PERIOD:][:w] for row in range(h)))
            u, v = bytearray(u_plane), bytearray(v_plane)
            x = bounce(t * 12, max(w - side, 1)) & ~1
            y0 = bounce(t * 7, max(h - side, 1)) & ~1
            for row in range(y0, y0 + side):
                y[row * w + x:row * w + x + side] = bytes([180]) * side
            for row in range(y0 // 2, (y0 + side) // 2):
                u[row * cw + x // 2:row * cw + (x + side) // 2] = bytes([60]) * (side // 2)
                v[row * cw + x // 2:row * cw + (x + side) // 2] = bytes([200]) * (side // 2)
            f.write(b"FRAME\n")
            f.write(y)
            f.write(u)
            f.write(v)


if __name__ == "__main__":
    main()
