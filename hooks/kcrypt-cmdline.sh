#!/bin/sh
# rd.kcrypt=0 turns kcrypt off for this boot; say so once, early.
if getargbool 1 rd.kcrypt; then :; else
	info "kcrypt: disabled by rd.kcrypt=0"
fi
