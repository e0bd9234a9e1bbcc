// trt-int8 command line; subcommands live beside this file.
console.log('trt-int8');
