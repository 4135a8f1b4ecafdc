mkdir -p empty top/empty-child top/nonempty && echo x > top/nonempty/x && chmod 700 top/empty-child
