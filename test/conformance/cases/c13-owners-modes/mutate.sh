chown 1234:5678 f.txt && chmod 4755 s.sh && mkdir -p d && chown 4321:4321 d && chmod 750 d && echo x > d/y && chown 99:98 d/y
